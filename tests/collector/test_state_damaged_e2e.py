"""A sidecar whose state database was damaged starts, says so, keeps the damaged file, and forwards."""

from __future__ import annotations

from pathlib import Path

from tests.support import sidecar_config


def test_sidecar_starts_on_a_damaged_state_database(sidecar, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(b"\x00garbage left by a full disk\x00" * 500)
    sc = sidecar(sidecar_config(tmp_path))  # healthy, or the fixture raises with the log
    log = sc.log()
    assert f"state database {state / 'state.db'} is damaged" in log and "moved it aside" in log
    assert "Traceback" not in log
    kept = [p for p in state.glob("state.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"\x00garbage")
    assert sc.get("/v1/status")[0] == 200
    assert sc.stop() == 0
