"""The semconv registry is the single source: generated constants and docs must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import otelml.semconv as semconv
from otelml.semconv import generate

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_equal_regeneration() -> None:
    reg = generate.load_registry()
    assert generate.PYTHON_PATH.read_text(encoding="utf-8") == generate.render_python(reg), (
        "otelml/semconv/_attributes.py is stale: run python -m otelml.semconv.generate"
    )
    assert generate.DOCS_PATH.read_text(encoding="utf-8") == generate.render_markdown(reg), (
        "docs/semconv.md is stale: run python -m otelml.semconv.generate"
    )


def test_check_command_exit_code() -> None:
    done = subprocess.run([sys.executable, "-m", "otelml.semconv.generate", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_registry_name_is_a_constant_and_in_docs() -> None:
    raw = yaml.safe_load((ROOT / "otelml/semconv/registry.yaml").read_text(encoding="utf-8"))
    values = {getattr(semconv, n) for n in semconv.__all__ if n.isupper()}
    docs = (ROOT / "docs/semconv.md").read_text(encoding="utf-8")
    for attr in raw["attributes"]:
        key = attr["id"] + ("." if attr.get("template") else "")
        assert key in values, key
        assert f"`{attr['id']}" in docs
    for metric in raw["metrics"]:
        assert metric["name"] in values
    for op in raw["operations"]:
        assert op["span_name"] in values


def test_contract_names_from_design() -> None:
    # Spelled out independently of the registry: these names are a contract with users and the sidecar.
    assert semconv.ML_PREDICTION_ID == "ml.prediction.id"
    assert semconv.ML_OPERATION_NAME == "ml.operation.name"
    assert semconv.ML_MODEL_NAME == "ml.model.name"
    assert semconv.ML_FEATURE_PREFIX == "ml.feature."
    assert semconv.ML_SEGMENT_PREFIX == "ml.segment."
    assert semconv.ML_LABEL_DELAY == "ml.label.delay"
    assert semconv.SPAN_NAME_INFERENCE.format(model="m") == "inference m"
    assert semconv.SPAN_NAME_FEATURE_LOOKUP.format(view="v") == "feature_lookup v"
    assert semconv.METRIC_ML_INFERENCE_DURATION == "ml.inference.duration"
    assert semconv.METRIC_ML_PREDICTIONS == "ml.predictions"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Petal Length (cm)", "petal_length_cm"),
        ("age", "age"),
        ("already_ok_1", "already_ok_1"),
        ("__x__", "x"),
        ("a--b  c", "a_b_c"),
        ("Größe", "gr_e"),
        (7, "7"),
    ],
)
def test_normalize_feature_name(raw: object, expected: str) -> None:
    assert semconv.normalize_feature_name(raw) == expected


def test_empty_name_becomes_index_and_duplicates_get_suffixes() -> None:
    assert semconv.normalize_feature_name("()", 4) == "f4"
    assert semconv.normalize_feature_names(["A b", "a-b", "a_b", "%"]) == ["a_b", "a_b_2", "a_b_3", "f3"]
    assert semconv.feature_attribute_key("Petal Width") == "ml.feature.petal_width"


def test_malformed_registry_names_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "registry.yaml"
    bad.write_text(
        "operations: [{name: x, span_name: 'x {y}', brief: b}]\n"
        "attributes: [{id: ml.a, type: string, brief: b}]\n"
        "metrics: [{name: m, instrument: gauge, unit: '1', brief: b}]\n"
        "feature_name_normalisation: text\n",
        encoding="utf-8",
    )
    expected = r"registry\.yaml: attributes\[0\] lacks key\(s\) applies_to"
    with pytest.raises(generate.RegistryError, match=expected):
        generate.load_registry(bad)
