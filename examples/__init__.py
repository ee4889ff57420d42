"""A realistic model service instrumented with otelml: credit-risk scoring behind two HTTP services."""
