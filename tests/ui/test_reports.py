"""`otelml validate --html`: one self-contained file (plotly.js inlined from the installed package) that a
browser with no network draws, whose histograms hold the data's real shares; and the pages escape what the
traffic says (span attributes and service names are attacker-controlled)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from otelml import report

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OTELML_AUDIT_DB": os.devnull}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    return subprocess.run([sys.executable, "-m", "otelml.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


def _figures(page: str) -> list[dict[str, Any]]:
    return [json.loads(m.replace("&#39;", "'")) for m in re.findall(r"data-figure='([^']*)'", page)]


def test_validate_html_is_one_offline_file_with_the_datas_real_histograms(
    tmp_path: Path, browser: Any
) -> None:
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"income": rng.normal(50, 10, 4000), "plan": rng.choice(["a", "b", "c"], 4000)})
    data = pd.DataFrame({"income": rng.normal(62, 10, 3000), "plan": rng.choice(["a", "b", "c"], 3000)})
    train.to_csv(tmp_path / "train.csv", index=False)
    data.to_csv(tmp_path / "data.csv", index=False)
    built = _cli("baseline", "build", str(tmp_path / "train.csv"), "--model", "m",
                 "--out", str(tmp_path / "baseline.json"))  # fmt: skip
    assert built.returncode == 0, built.stderr
    expectations = "columns:\n  income:\n    drift: {method: wasserstein, threshold: 0.1}\n"
    (tmp_path / "exp.yaml").write_text(expectations + "  plan:\n    in_set: {values: [a, b, c]}\n")
    out = tmp_path / "report.html"
    run = _cli("validate", str(tmp_path / "data.csv"), "-e", str(tmp_path / "exp.yaml"),
               "--baseline", str(tmp_path / "baseline.json"), "--html", str(out), "--no-audit")  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr  # the drift check fails
    page = out.read_text()
    inlined = report.plotly_js().replace("</script", "<\\/script")
    assert inlined in page  # plotly.js of the installed package, inlined whole
    ours = page.replace(inlined, "")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", ours), ours[:3000]  # nothing to fetch

    income = next(f for f in _figures(page) if f["layout"]["title"]["text"].startswith("income"))
    edges = json.loads((tmp_path / "baseline.json").read_text())["features"]["income"]["edges"]
    inner, _ = np.histogram(data["income"], bins=np.asarray(edges))
    current = income["data"][1]
    shares = [y * w for y, w in zip(current["y"], current["width"], strict=True)]
    below, *middle, above = shares
    # charts carry 6 significant digits: far finer than one row's share (1/3000), so the counts are exact
    np.testing.assert_allclose(middle, inner / len(data), rtol=0, atol=1e-5)
    assert above == pytest.approx(np.count_nonzero(data["income"] > edges[-1]) / len(data), abs=1e-5)
    assert below == pytest.approx(np.count_nonzero(data["income"] < edges[0]) / len(data), abs=1e-5)

    browser.get(out.as_uri())  # a file, no server: charts still draw
    drawn = browser.execute_script("return document.querySelectorAll('div.chart .main-svg').length")
    assert drawn >= 2
    rows = browser.find_element("id", "expectations").text
    assert re.search(r"income drift .* FAILED", rows) and re.search(r"plan in_set .* passed", rows), rows


def test_pages_escape_span_data() -> None:
    evil = "<script>alert(1)</script>"
    spans = [
        {
            "trace_id": "ab" * 16,
            "span_id": "cd" * 8,
            "parent_span_id": None,
            "name": f"inference {evil}",
            "service": evil,
            "kind": "internal",
            "start_time_unix_nano": 1,
            "end_time_unix_nano": 2_000_000,
            "status": "ok",
            "attributes": {
                "ml.feature.<img src=x onerror=alert(2)>": "<b>x</b>",
                "ml.decision": evil,
                "ml.drift.features": ["<img src=x onerror=alert(2)>"],
            },
        }
    ]
    doc = {"prediction_id": "ef" * 16, "model": evil, "version": "1", "spans": spans, "label": None}
    page = report.prediction_page(doc, set(), links="/ui", assets="/ui/assets")
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    (figure,) = _figures(page)
    assert figure["data"][0]["name"] == "&lt;script&gt;alert(1)&lt;/script&gt;"  # plotly shows it as text


def _window(end: str, score: float, counts: list[int]) -> dict[str, Any]:
    scores = [{"feature": "income", "method": "wasserstein", "score": score, "threshold": 0.1,
               "drifted": score > 0.1, "alert": False}]  # fmt: skip
    return {"end": end, "end_unix_nano": int(end[-3:]), "scores": scores, "counts": {"income": counts}}


def test_a_model_page_after_a_window_closed_shows_that_window() -> None:
    """The model page reuses a feature's figures while no window closed: the next window must show."""
    reference = {"income": {"kind": "numeric", "edges": [0.0, 1.0, 2.0], "counts": [10, 50, 30, 10]}}
    windows = [_window("2025-01-01T00:00:00.001", 0.02, [5, 50, 40, 5])]

    def page() -> list[dict[str, Any]]:
        model = {"version": "1", "baseline": "b.json", "reference": reference, "windows": windows}
        history = {"models": [model]}
        last = windows[-1]["scores"][0]
        drift = {"drift": [{"model": "m", "version": "1", "kind": "feature", **last}]}
        docs = {"drift": drift, "history": history, "performance": None, "quality": None, "explained": {}}
        return _figures(report.model_page("m", docs, links="/ui", assets="/ui/assets"))

    first, again = page(), page()
    assert first == again
    windows.append(_window("2025-01-01T00:00:00.002", 0.3, [40, 10, 10, 40]))
    history, histogram = page()
    assert history["data"][0]["y"] == [0.02, 0.3]
    assert history["data"][0]["marker"]["color"] == ["#2471a3", "#c0392b"]  # the drifted window in red
    assert histogram["data"][1]["name"] == "last window (2025-01-01T00:00:00.002)"
    below, *_ = [y * w for y, w in zip(histogram["data"][1]["y"], histogram["data"][1]["width"], strict=True)]
    assert below == pytest.approx(0.4, abs=1e-5)


def test_a_performance_alert_on_the_timeline_links_the_wrongest_predictions() -> None:
    """`/v1/performance` names the wrongest predictions of a window that alerted; the timeline links them."""
    tid = "ab" * 16
    alerted = {
        "model": "m", "version": "1", "segment": {}, "start": "2025-01-01T00:00:00",
        "end": "2025-01-01T01:00:00", "n": 400, "n_labeled": 400, "coverage": 1.0, "closed": True,
        "realized": {"f1": 0.41}, "estimated": {}, "alerts": ["realized:f1"], "trace_ids": [tid],
    }  # fmt: skip
    docs = {"drift": None, "history": None, "performance": {"windows": [alerted]}, "quality": None,
            "explained": {}}  # fmt: skip
    page = report.model_page("m", docs, links="/ui", assets="/ui/assets")
    start = page.index("realized f1 = 0.41 dropped below the reference")
    row = page[start : page.index("</tr>", start)]
    assert f'href="/ui/predictions/{tid}"' in row, row
