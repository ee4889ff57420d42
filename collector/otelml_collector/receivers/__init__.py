"""Receivers: one folder per receiver type (config, factory, component)."""
