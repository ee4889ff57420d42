"""Extensions (`extensions:` in the config, enabled by `service.extensions`), as in the Collector."""
