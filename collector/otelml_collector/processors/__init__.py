"""Sidecar processors (drift, quality, ...), one package each."""
