"""An alert as the webhook posts it: Slack-compatible `{"text": ...}` or a plain JSON object, and the
incident key that deduplicates it."""

from __future__ import annotations

from typing import Any

from otelml_collector.bus import Alert

__all__ = ["incident_key", "links", "payload"]

# attributes that change from one window/evaluation of the same incident to the next
_VARYING = ("window", "prediction.id", "trace", "exemplar", "observed")


def incident_key(alert: Alert) -> str:
    """Event name plus the alert's identifying (string) attributes: model, version, feature, method,
    metric, objective, segment ... — never figures, times or example ids."""
    parts = [alert.event_name]
    for key in sorted(alert.attributes):
        value = alert.attributes[key]
        if isinstance(value, str) and not any(v in key for v in _VARYING):
            parts.append(f"{key}={value}")
    return "|".join(parts)


def links(alert: Alert, public_url: str, trace_url_template: str | None) -> dict[str, str]:
    """The prediction page (by prediction id, else trace id) and, when configured, the trace viewer."""
    out: dict[str, str] = {}
    pid = alert.attributes.get("ml.prediction.id")
    target = pid if isinstance(pid, str) and pid else alert.trace_id
    if target:
        out["prediction"] = f"{public_url.rstrip('/')}/ui/predictions/{target}"
    if alert.trace_id and trace_url_template:
        out["trace"] = trace_url_template.replace("{trace_id}", alert.trace_id)
    return out


def payload(alert: Alert, fmt: str, public_url: str, trace_url_template: str | None) -> dict[str, Any]:
    urls = links(alert, public_url, trace_url_template)
    pid = alert.attributes.get("ml.prediction.id")
    if fmt == "json":
        return {
            "event": alert.event_name,
            "severity": alert.severity,
            "time_unix_nano": alert.time_unix_nano,
            "text": alert.body,
            "attributes": alert.attributes,
            "trace_id": alert.trace_id or None,
            "span_id": alert.span_id or None,
            "prediction_id": pid if isinstance(pid, str) else None,
            "links": urls,
        }
    lines = [f":warning: {alert.body}"]
    if "prediction" in urls:
        label = f"prediction {pid}" if isinstance(pid, str) and pid else f"trace {alert.trace_id}"
        if isinstance(pid, str) and pid and alert.trace_id:
            label += f" (trace {alert.trace_id})"
        lines.append(f"<{urls['prediction']}|{label}>")
    if "trace" in urls:
        lines.append(f"<{urls['trace']}|trace {alert.trace_id} in the trace viewer>")
    elif alert.trace_id and "prediction" not in urls:
        lines.append(f"trace {alert.trace_id}")
    return {"text": "\n".join(lines)}
