"""`ml_extract`: turn inference spans into columnar ML records for the drift/quality/performance processors.

For every traces request the processor scans the received bytes once (a C wire-format scanner when
built, else protobuf; identical results) and appends one `ModelBatch` per (model, version) to
`request.records`. The request itself is not touched, so it is forwarded as the bytes it arrived in.
What counts as an inference span and how attributes become rows and columns is documented in
`scan` and `assemble` of this package.

Configuration (`processors.ml_extract`), every key optional:

```yaml
processors:
  ml_extract:
    max_models: 100                  # distinct (model, version) pairs; spans of further models are skipped
    max_features_per_model: 500      # features + segment keys per model; further ones are skipped
    max_categories_per_feature: 1000 # distinct values per categorical feature; further ones -> "__other__"
    max_string_bytes: 256            # longer string values and names are cut to this many UTF-8 bytes
```

When a cap is first hit the sidecar logs one WARNING naming the cap, the model and the config key;
every refused value is counted in the metric `otelml_collector.extract.capped{cap}`. Other metrics:
`otelml_collector.extract.spans`, `.rows`, `.invalid_values{ml.model.name, ml.model.version,
ml.feature.name}`, `.dropped_spans{reason}` (`no_model`, `undecodable`). Extraction never raises
into the pipeline: a request it cannot read is forwarded anyway and counted.
"""

from __future__ import annotations

from otelml_collector import registry
from otelml_collector.processors.extract.config import MLExtractConfig
from otelml_collector.processors.extract.factory import MLExtractFactory
from otelml_collector.processors.extract.processor import MLExtractProcessor

__all__ = ["MLExtractConfig", "MLExtractFactory", "MLExtractProcessor"]

registry.register(MLExtractFactory())
