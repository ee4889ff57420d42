"""`python -m otelml_collector` runs the sidecar (same as `otelml-collector`)."""

from __future__ import annotations

import sys

from otelml_collector.cli import main

sys.exit(main())
