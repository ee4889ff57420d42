"""The sidecar's web UI on `service.http`: `/ui/` (models and their status), `/ui/models/{model}` (drift per
feature over windows with histograms against the baseline, the predictions behind each drifted feature,
performance, quality, alerts) and `/ui/predictions/{id}` (one prediction across services), plus
`/ui/assets/plotly.min.js` from the installed `plotly` package. Pages are built from the answers of the
HTTP API's own JSON routes (`HttpApi.call`), so they show exactly what the API says, go through the same
server (and whatever guards it), and never touch the receive path. See docs/ui.md.
"""

from __future__ import annotations

from otelml_collector.ui.pages import register

__all__ = ["register"]
