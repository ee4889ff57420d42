"""StateStore: values come back as stored, survive a reopen (restart), transactions are atomic, and
concurrent writers from many threads lose nothing."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from otelml_collector.state import DB_FILENAME, StateStore


def test_roundtrip_json_and_bytes(tmp_path):
    store = StateStore(tmp_path)
    store.put("drift.baseline", "credit/3", {"edges": [0.5, 1.5], "n": 3, "name": "é"})
    store.put("drift.window", "credit/3", b"\x00\x01\xff")
    store.put("drift.window", "credit/4", [1, 2])
    assert store.get("drift.baseline", "credit/3") == {"edges": [0.5, 1.5], "n": 3, "name": "é"}
    assert store.get("drift.window", "credit/3") == b"\x00\x01\xff"
    assert store.get("drift.window", "missing", default="d") == "d"
    assert store.items("drift.window") == [("credit/3", b"\x00\x01\xff"), ("credit/4", [1, 2])]
    assert store.items("drift.window", prefix="credit/4") == [("credit/4", [1, 2])]
    assert store.keys("drift.window") == ["credit/3", "credit/4"]
    assert store.namespaces() == ["drift.baseline", "drift.window"]
    assert store.delete("drift.window", "credit/3") is True
    assert store.delete("drift.window", "credit/3") is False
    assert store.clear("drift.window") == 1
    assert store.items("drift.window") == []
    store.close()
    store.close()  # idempotent


def test_survives_restart_and_uses_wal(tmp_path):
    with StateStore(tmp_path / "state") as store:
        store.put("labels", "pred-1", {"value": 1})
    db = tmp_path / "state" / DB_FILENAME
    assert db.exists()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with StateStore(tmp_path / "state") as reopened:
        assert reopened.get("labels", "pred-1") == {"value": 1}


def test_transaction_rolls_back_on_error(tmp_path):
    store = StateStore(tmp_path)
    store.put("ns", "a", 1)
    with pytest.raises(RuntimeError), store.transaction():
        store.put("ns", "a", 2)
        store.put("ns", "b", 2)
        with store.transaction():  # nested joins the outer one
            store.delete("ns", "a")
        raise RuntimeError("crash mid-checkpoint")
    assert store.items("ns") == [("a", 1)]
    with store.transaction():
        store.put("ns", "a", 3)
        store.put("ns", "c", 3)
    assert store.items("ns") == [("a", 3), ("c", 3)]


def test_concurrent_writers(tmp_path):
    store = StateStore(tmp_path)

    def writer(t: int) -> None:
        for i in range(200):
            if i % 50 == 0:
                with store.transaction():
                    store.put(f"t{t}", f"k{i}", i)
            else:
                store.put(f"t{t}", f"k{i}", i)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t in range(8):
        assert sorted(v for _, v in store.items(f"t{t}")) == list(range(200))


def test_unwritable_path_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"state.path .*file/sub.*cannot create directory"):
        StateStore(blocker / "sub")


def test_use_after_close_says_so(tmp_path):
    store = StateStore(tmp_path)
    store.close()
    with pytest.raises(RuntimeError, match="is closed"):
        store.get("ns", "k")


def _damage_mid_file(file) -> None:
    """Overwrite one page in the middle of the file with garbage (the header stays valid)."""
    size = file.stat().st_size
    with open(file, "r+b") as f:
        f.seek(size // 2 // 4096 * 4096)
        f.write(b"\xa5" * 4096)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda f: f.write_bytes(b""), id="zero-bytes"),
        pytest.param(lambda f: f.write_bytes(b"this is not sqlite" * 300), id="not-sqlite"),
        pytest.param(_damage_mid_file, id="garbage-mid-file"),
    ],
)
def test_a_damaged_database_is_moved_aside_never_silently_reset(tmp_path, caplog, damage):
    store = StateStore(tmp_path)
    with store.transaction():
        for i in range(3000):
            store.put("drift.window", f"m/{i:05d}", {"counts": list(range(40)), "i": i})
    store.close()
    file = tmp_path / DB_FILENAME
    original = file.read_bytes()
    damage(file)
    damaged = file.read_bytes()
    assert damaged != original
    with caplog.at_level("ERROR", logger="otelml_collector.state"):
        reopened = StateStore(tmp_path)
    aside = list(tmp_path.glob(f"{DB_FILENAME}.damaged-*"))
    assert [p.name for p in aside if not p.name.endswith(("-wal", "-shm"))] == [
        reopened.moved_aside.rsplit("/", 1)[1]]
    assert (tmp_path / reopened.moved_aside.rsplit("/", 1)[1]).read_bytes() == damaged  # kept for recovery
    assert "is damaged" in caplog.text and "moved it aside to" in caplog.text and ".recover" in caplog.text
    assert reopened.items("drift.window") == []  # a fresh, working store
    reopened.put("drift.window", "m/1", {"ok": True})
    assert reopened.get("drift.window", "m/1") == {"ok": True}
    reopened.close()
    assert StateStore(tmp_path).moved_aside is None  # the new database is healthy


def test_a_row_that_does_not_decode_is_skipped_and_logged_once(tmp_path, caplog):
    store = StateStore(tmp_path)
    store.put("drift.window", "a", {"n": 1})
    store.put("drift.window", "c", {"n": 3})
    store.close()
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("INSERT INTO kv VALUES ('drift.window', 'b', 1, ?, 0)", (b"{not json",))
    conn.commit()
    conn.close()
    store = StateStore(tmp_path)
    with caplog.at_level("ERROR", logger="otelml_collector.state"):
        assert store.items("drift.window") == [("a", {"n": 1}), ("c", {"n": 3})]
        assert store.get("drift.window", "b", default="gone") == "gone"
        store.items("drift.window")
    assert caplog.text.count("row drift.window/b does not decode") == 1
