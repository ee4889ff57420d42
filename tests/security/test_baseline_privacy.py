"""`otelml baseline build` honours the library's capture policy: no raw value of a masked feature."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd


def test_redacted_and_dropped_columns_are_not_profiled_and_hashed_ones_match_spans(tmp_path: Path) -> None:
    df = pd.DataFrame({"SSN": ["123-45-6789", "987-65-4321", "555-55-5555"] * 20,
                       "email": ["a@x.com", "b@x.com", "c@x.com"] * 20,
                       "age": list(range(60)), "notes": ["secret note"] * 60, "label": [0, 1, 1] * 20})
    df.to_csv(tmp_path / "train.csv", index=False)
    env = {**os.environ, "OTELML_REDACT_FEATURES": "ssn", "OTELML_HASH_FEATURES": "email",
           "OTELML_HASH_SALT": "pepper", "OTELML_DROP_FEATURES": "notes"}
    run = subprocess.run([sys.executable, "-m", "otelml.cli", "baseline", "build",
                          str(tmp_path / "train.csv"), "--model", "m", "--target", "label",
                          "--out", str(tmp_path / "b.json")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "capture policy (OTELML_*_FEATURES): SSN redacted, email hashed, notes dropped\n" in run.stdout
    text = (tmp_path / "b.json").read_text()
    for raw in ("123-45-6789", "a@x.com", "secret note"):
        assert raw not in text
    doc = json.loads(text)
    assert list(doc["features"]) == ["email", "age"]
    expected = {"sha256:" + hashlib.sha256(f"pepper{e}".encode()).hexdigest() for e in ("a@x.com", "b@x.com",
                                                                                         "c@x.com")}
    assert set(doc["features"]["email"]["categories"]) == expected


def test_the_hash_in_the_baseline_is_the_hash_on_the_span(tmp_path: Path) -> None:
    import otelml
    from otelml._capture import feature_attributes, mask_columns
    from otelml._config import get_config

    cfg = otelml.configure(hash_features=["email"], hash_salt="pepper")
    try:
        on_span, _ = feature_attributes(pd.DataFrame({"email": ["a@x.com"], "age": [3]}), None, get_config())
        kept, _ = mask_columns({"email": pd.Series(["a@x.com"]), "age": pd.Series([3])}, cfg)
    finally:
        otelml.configure(hash_features=[], hash_salt="")
    assert kept["email"] == [on_span["ml.feature.email"]] and kept["email"][0].startswith("sha256:")
