"""Builds the optional C accelerator of the sidecar's ML record extraction (metadata: pyproject.toml).

`optional=True`: without a C compiler the install still succeeds and the sidecar uses the pure-Python
extraction path, which produces identical records (slower; see docs/benchmarks.md).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "otelml_collector.otlp._fastscan",
            sources=["collector/otelml_collector/otlp/_fastscan.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
