"""Exporters: one folder per exporter type (config, factory, component)."""
