"""Typed configuration of the `predictions` processor (`processors.predictions` in the sidecar YAML).

processors:
  predictions:
    retention: 24h        # stored traces older than this (by arrival) are deleted
    max_spans: 1000000    # hard bound on stored spans; oldest arrivals go first (down to 95 %)
    queue_size: 1024      # received batches waiting for the writer; more are dropped and counted
    known_traces: 100000  # trace ids remembered as holding a prediction (late spans join them)
    pending:              # spans of traces not (yet) known to hold a prediction wait here
      max_spans: 20000
      seconds: 30s
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration, from_mapping

__all__ = ["PendingConfig", "PredictionsConfig", "config_from_dict"]


@dataclass
class PendingConfig:
    max_spans: int = 20_000
    seconds: Duration = 30.0


@dataclass
class PredictionsConfig(ComponentConfig):
    retention: Duration = 86400.0
    max_spans: int = 1_000_000
    queue_size: int = 1024
    known_traces: int = 100_000
    pending: PendingConfig = field(default_factory=PendingConfig)

    def validate(self) -> None:
        for key, value in (
            ("max_spans", self.max_spans),
            ("queue_size", self.queue_size),
            ("known_traces", self.known_traces),
            ("pending.max_spans", self.pending.max_spans),
        ):
            if value <= 0:
                raise ValueError(f"{key} must be a positive integer, got {value}")
        if self.retention <= 0:
            raise ValueError(f"retention: must be a positive duration, got {self.retention}")


def config_from_dict(raw: object) -> PredictionsConfig:
    return from_mapping(PredictionsConfig, raw)
