"""Environment variables read by the otelml library, each with its default.

An explicit ``otelml.configure(...)`` argument wins over the variable, which wins over the default.
An unparsable value is logged as a warning naming the variable and the default is used.
"""

from __future__ import annotations

OTELML_CAPTURE_FEATURES = "OTELML_CAPTURE_FEATURES"
"""
.. envvar:: OTELML_CAPTURE_FEATURES

Record input features as ``ml.feature.<name>`` attributes on inference spans (``true``/``false``).
Default: "true"
"""

OTELML_REDACT_FEATURES = "OTELML_REDACT_FEATURES"
"""
.. envvar:: OTELML_REDACT_FEATURES

Comma-separated feature names (as the model sees them, or their normalised ``ml.feature`` suffix) whose
values are replaced by the string ``[REDACTED]``.
Default: "" (none)
"""

OTELML_HASH_FEATURES = "OTELML_HASH_FEATURES"
"""
.. envvar:: OTELML_HASH_FEATURES

Comma-separated feature names whose values are replaced by ``sha256:<hex>`` of salt + value, so equal
values stay comparable without being readable.
Default: "" (none)
"""

OTELML_DROP_FEATURES = "OTELML_DROP_FEATURES"
"""
.. envvar:: OTELML_DROP_FEATURES

Comma-separated feature names that get no attribute at all (neither name nor value is exported).
Default: "" (none)
"""

OTELML_HASH_SALT = "OTELML_HASH_SALT"
"""
.. envvar:: OTELML_HASH_SALT

Salt prepended to a value before hashing (see :envvar:`OTELML_HASH_FEATURES`). Keep it secret.
Default: "" (a warning is logged once when features are hashed without a salt)
"""

OTELML_MAX_BATCH_ROWS = "OTELML_MAX_BATCH_ROWS"
"""
.. envvar:: OTELML_MAX_BATCH_ROWS

Rows captured from a batch call; larger batches are reduced to a uniform sample of this many rows
(the same rows for features and predictions), with ``ml.batch.size`` and ``ml.batch.sampled_rows`` set.
Default: "100"
"""

OTELML_MAX_ATTRIBUTES = "OTELML_MAX_ATTRIBUTES"
"""
.. envvar:: OTELML_MAX_ATTRIBUTES

Maximum number of ``ml.feature.*`` attributes on one span; features beyond it (in column order) are
not recorded. Keeps spans under the SDK's default limit of 128 attributes.
Default: "100"
"""

OTELML_MAX_STRING_LENGTH = "OTELML_MAX_STRING_LENGTH"
"""
.. envvar:: OTELML_MAX_STRING_LENGTH

String feature and prediction values longer than this are truncated.
Default: "256"
"""

OTELML_LOG_PREDICTIONS = "OTELML_LOG_PREDICTIONS"
"""
.. envvar:: OTELML_LOG_PREDICTIONS

Emit one OTel log record per prediction with its (masked) inputs and outputs.
Default: "false"
"""

OTELML_METRICS = "OTELML_METRICS"
"""
.. envvar:: OTELML_METRICS

Record the ``ml.inference.duration`` and ``ml.predictions`` metrics.
Default: "true"
"""

OTELML_AUDIT_DB = "OTELML_AUDIT_DB"
"""
.. envvar:: OTELML_AUDIT_DB

SQLite file where ``otelml validate`` appends every run (the audit store; ``--audit-db`` overrides it).
Default: "$XDG_DATA_HOME/otelml/audit.sqlite" (``~/.local/share/otelml/audit.sqlite``)
"""
