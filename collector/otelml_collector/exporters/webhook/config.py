"""Configuration of the `webhook` exporter (`exporters.webhook`): alerts to Slack or any JSON endpoint.

exporters:
  webhook:
    endpoint: https://hooks.slack.com/services/T000/B000/XXXX   # required
    format: slack                    # slack ({"text": ...}) | json (the alert as a JSON object)
    public_url: https://otelml.example.com   # base of prediction links (default: the sidecar's HTTP API)
    headers: {Authorization: "Bearer ${env:WEBHOOK_TOKEN}"}
    timeout: 5s                      # per attempt
    retry_on_failure: {enabled: true, initial_interval: 1s, max_interval: 30s, max_attempts: 6}
    sending_queue: {queue_size: 100} # alerts waiting to be posted; further ones are dropped and counted
    rate_limit: {messages: 20, interval: 1m}   # at most this many posts per interval; more are dropped
    dedupe_interval: 1h              # one message per incident key (event + model + feature/objective ...)
    events: []                       # only these event names (default: every alert)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from otelml_collector.component import ComponentConfig
from otelml_collector.configutil import Duration

__all__ = ["QueueConfig", "RateLimit", "RetryConfig", "WebhookConfig"]

FORMATS = ("slack", "json")


@dataclass
class RetryConfig:
    enabled: bool = True
    initial_interval: Duration = 1.0
    max_interval: Duration = 30.0
    max_attempts: int = 6  # including the first


@dataclass
class QueueConfig:
    queue_size: int = 100


@dataclass
class RateLimit:
    messages: int = 20
    interval: Duration = 60.0


@dataclass
class WebhookConfig(ComponentConfig):
    endpoint: str = ""
    format: str = "slack"
    public_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: Duration = 5.0
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)
    sending_queue: QueueConfig = field(default_factory=QueueConfig)
    rate_limit: RateLimit = field(default_factory=RateLimit)
    dedupe_interval: Duration = 3600.0
    events: list[str] = field(default_factory=list)

    def validate(self) -> None:
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"endpoint: an http(s) URL of the webhook is required, got {self.endpoint!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format: must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.public_url is not None and urlsplit(self.public_url).scheme not in ("http", "https"):
            raise ValueError(f"public_url: an http(s) URL is required, got {self.public_url!r}")
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be positive, got {self.timeout}")
        if self.retry_on_failure.max_attempts < 1:
            raise ValueError("retry_on_failure.max_attempts: must be at least 1")
        if self.sending_queue.queue_size < 1:
            raise ValueError("sending_queue.queue_size: must be at least 1")
        if self.rate_limit.messages < 1 or self.rate_limit.interval <= 0:
            raise ValueError("rate_limit: messages must be at least 1 and interval positive")
