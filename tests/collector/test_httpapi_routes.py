"""The sidecar's HTTP API routes a `{name}` segment that contains slashes (a model named `fraud/v2`):
the UI links such a model as `/ui/models/fraud/v2`, and the page must be its page, not a 404."""

from __future__ import annotations

import requests
from otelml_collector.httpapi import EventLoopThread, HttpApi


def test_a_segment_with_slashes_reaches_its_route_over_http() -> None:
    api = HttpApi("127.0.0.1:0")
    api.add_get("/ui/models/{model}", lambda q: {"model": q["model"]})
    api.add_get("/v1/drift/history", lambda q: {"history": True})
    api.add_get("/v1/drift/{feature}", lambda q: {"feature": q["feature"]})
    loop = EventLoopThread()
    api.start(loop)
    try:
        base = f"http://127.0.0.1:{api.port}"
        assert requests.get(f"{base}/ui/models/churn", timeout=10).json() == {"model": "churn"}
        assert requests.get(f"{base}/ui/models/fraud/v2", timeout=10).json() == {"model": "fraud/v2"}
        assert requests.get(f"{base}/ui/models/fraud%2Fv2", timeout=10).json() == {"model": "fraud/v2"}
        assert requests.get(f"{base}/v1/drift/history", timeout=10).json() == {"history": True}  # exact first
        assert requests.get(f"{base}/v1/drift/a/b", timeout=10).json() == {"feature": "a/b"}
        assert requests.get(f"{base}/ui/models/", timeout=10).status_code == 404  # an empty segment
        assert requests.get(f"{base}/nothing/here", timeout=10).status_code == 404
    finally:
        api.shutdown()
        loop.stop()
