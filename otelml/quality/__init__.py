"""otelml's data-quality gate: expectations checked on a table, in a pipeline or in the sidecar.

Python API (Airflow/Kubeflow tasks)::

    import pandas as pd
    from otelml import quality

    result = quality.validate(pd.read_parquet("batch.parquet"), "expectations.yaml",
                              baseline="baseline.json")
    if not result.success:
        raise RuntimeError(f"{len(result.failed)} expectations failed")

`expectations` is a path to an otelml YAML file or a Great Expectations suite JSON, an already-parsed
mapping of either, or a list of `Expectation`. The file format and the GE mapping are documented in
docs/quality.md; the same checks run as `otelml validate` and as the sidecar's `quality` processor.
"""

from __future__ import annotations

from otelml.quality._audit import AuditRun, AuditStore
from otelml.quality._checks import CheckContext, run_check, within_bounds
from otelml.quality._drift import load_baseline_file
from otelml.quality._errors import DataFileError, ExpectationFileError, QualityError
from otelml.quality._ge import GE_TYPES
from otelml.quality._loader import load_expectations, parse_expectations
from otelml.quality._model import Example, Expectation, ExpectationResult, Result
from otelml.quality._report import format_table
from otelml.quality._telemetry import otlp_configured, post_webhook, send_otlp, slack_message
from otelml.quality._validate import read_data, resolve_expectations, validate

__all__ = [
    "GE_TYPES",
    "AuditRun",
    "AuditStore",
    "CheckContext",
    "DataFileError",
    "Example",
    "Expectation",
    "ExpectationFileError",
    "ExpectationResult",
    "QualityError",
    "Result",
    "format_table",
    "load_baseline_file",
    "load_expectations",
    "otlp_configured",
    "parse_expectations",
    "post_webhook",
    "read_data",
    "resolve_expectations",
    "run_check",
    "send_otlp",
    "slack_message",
    "validate",
    "within_bounds",
]
