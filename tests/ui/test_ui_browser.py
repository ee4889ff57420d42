"""The web UI in a real browser during an incident (issue 12, "Done when").

Two real instrumented services (Flask gateway -> FastAPI scoring with scikit-learn) send OTLP to a real
sidecar subprocess (ml_extract, drift with a warm-up baseline, predictions, performance, quality). After
the warm-up and one normal window, applications arrive with `income` shifted by two standard deviations.
Headless Chromium (Debian's chromium + chromedriver, driven by Selenium with explicit paths: nothing is
downloaded, no network) opens `/ui/`, sees the model flagged, opens the model page, sees `income` drifted
with its charts drawn by plotly (SVG bars: the histogram against the baseline), follows a link from the
drifted feature to a prediction page and sees the prediction's path through both services, its features
with `income` highlighted, its output, decision and label.

`OTELML_UI_SCREENSHOTS=1` also writes the three pages to docs/images/ (the pictures of README and
docs/ui.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.net import wait_until
from tests.support.sidecar import sidecar_config

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "tests" / "library" / "services"
WARMUP = WINDOW = 200
EXPECTATIONS = """
columns:
  debt_ratio:
    between: {min: -2.2, max: 2.2}
"""


def _start(script: str, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVICES / script), *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.strip().isdigit():
        proc.kill()
        raise AssertionError(f"{script} did not start: {line!r}")
    return proc, int(line)


def _env(endpoint: str, service: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELML_"))}
    env.update(
        OTEL_SERVICE_NAME=service, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{endpoint}",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_EXPORTER_OTLP_INSECURE="true", OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none", OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sklearn",
        PYTHONPATH=str(REPO),
    )  # fmt: skip
    return env


def _post(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _send(front: str, back: str, rows: np.ndarray) -> None:
    names = ("income", "debt_ratio", "age")

    def one(row: np.ndarray) -> None:
        answer = _post(f"{front}/apply", dict(zip(names, map(float, row), strict=True)))
        if row[0] > 1.8:  # some outcomes arrive: the risky ones default
            _post(f"{back}/label/{answer['prediction_id']}?value={int(row[1] > 0)}")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one, rows))


@pytest.fixture
def incident(sidecar: Any, otlp_sink: Any, tmp_path: Path) -> Any:
    (tmp_path / "expectations.yaml").write_text(EXPECTATIONS)
    processors = {
        "ml_extract": {},
        "drift": {
            "baseline": {"warmup": WARMUP},
            "window": {"size": WINDOW, "seconds": 0},
            "thresholds": {"wasserstein": 0.3, "js": 0.2},
            "checkpoint_seconds": 1,
        },  # windows of 200: noise reaches 0.15
        "predictions": {},
        "performance": {"window": {"size": WINDOW}, "baseline": {"warmup": 0}},
        "quality": {"expectations": str(tmp_path / "expectations.yaml"), "alert_interval": "0s"},
    }
    config = sidecar_config(tmp_path, downstream=otlp_sink.endpoint, processors=processors)
    config["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp"], "processors": list(processors), "exporters": ["otlp"]}
    }
    car = sidecar(config)
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    back, back_port = _start("back.py", _env(grpc, "scoring"))
    front, front_port = _start("front.py", _env(grpc, "gateway"), f"http://127.0.0.1:{back_port}")
    try:
        rng = np.random.default_rng(12)
        normal = rng.normal(size=(WARMUP + WINDOW, 3))
        shifted = rng.normal(size=(WINDOW + 5, 3))
        shifted[:, 0] += 2.0  # income: two standard deviations up
        _send(f"http://127.0.0.1:{front_port}", f"http://127.0.0.1:{back_port}", np.vstack([normal, shifted]))

        def drifted() -> bool:
            status, doc = car.get("/v1/drift/history")
            windows = doc["models"][0]["windows"] if status == 200 and doc["models"] else []
            return len(windows) >= 2 and any(s["drifted"] for s in windows[-1]["scores"])

        wait_until(drifted, 60, 0.3, what="a drifted window in /v1/drift/history")
        wait_until(
            lambda: car.get("/v1/drift/predictions?model=credit&feature=income")[0] == 200,
            20,
            0.3,
            what="the drift baseline checkpointed (the predictions behind a drift read it)",
        )
        yield car
    finally:
        for proc in (front, back):
            proc.terminate()
            proc.wait(10)
        car.stop(60)  # while the downstream sink still listens: the sidecar flushes to it on the way out


def _screenshot(driver: Any, name: str) -> None:
    if os.environ.get("OTELML_UI_SCREENSHOTS") != "1":
        return
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(int(height) + 40, 800), 2600))
    target = REPO / "docs" / "images" / f"ui-{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(target.with_suffix(".tmp.png")))
    shutil.move(str(target.with_suffix(".tmp.png")), target)
    driver.set_window_size(1400, 1000)


def _charts_drawn(driver: Any) -> int:
    return int(driver.execute_script("return document.querySelectorAll('div.chart .main-svg').length"))


def test_a_person_follows_a_drifted_feature_to_a_prediction_across_services(
    incident: Any, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    api = incident.api
    browser.get(f"{api}/ui/")
    row = browser.find_element(By.CSS_SELECTOR, "#models tr:nth-child(2)")
    assert "credit" in row.text and "drift" in row.text and "income" in row.text, row.text
    assert "debt_ratio" not in row.find_elements(By.TAG_NAME, "td")[3].text  # only income drifted
    _screenshot(browser, "models")

    row.find_element(By.LINK_TEXT, "credit").click()
    wait_until(lambda: _charts_drawn(browser) >= 4, 20, 0.2, what="plotly charts on the model page")
    summary = browser.find_element(By.ID, "drift-summary").text
    assert summary.split(": ", 1)[1].startswith("income,"), (
        summary
    )  # the model's output drifted too, no feature else
    assert "debt_ratio" not in summary and "age" not in summary, summary
    card = browser.find_element(By.ID, "feature-income")
    assert "drifted" in card.get_attribute("class") and "wasserstein" in card.text
    # the histogram against the baseline: plotly's SVG holds bars of both sides, the current one to the right
    bars = card.find_elements(By.CSS_SELECTOR, ".chart:nth-child(2) g.trace.bars")
    assert len(bars) == 2, len(bars)
    legend = card.find_element(By.CSS_SELECTOR, ".chart:nth-child(2) g.legend").text
    assert "reference (baseline)" in legend and "last window" in legend, legend
    paths = [b.find_elements(By.CSS_SELECTOR, "path") for b in bars]
    assert all(len(p) >= 20 for p in paths), [len(p) for p in paths]

    def mean_x(paths: list[Any]) -> float:
        boxes = [(p.rect["x"] + p.rect["width"] / 2, p.rect["height"]) for p in paths if p.rect["height"] > 0]
        return sum(x * h for x, h in boxes) / sum(h for _, h in boxes)

    assert (
        mean_x(paths[1]) > mean_x(paths[0]) + 40
    )  # drawn shift: the window's mass sits right of the reference
    other = browser.find_element(By.ID, "feature-age")
    assert "drifted" not in other.get_attribute("class")
    alerts = browser.find_element(By.ID, "alerts").text
    assert "income" in alerts and "crossed threshold" in alerts, alerts
    _screenshot(browser, "model")

    link = card.find_element(By.CSS_SELECTOR, "details.predictions a")  # the first: the bin adding most
    pid = link.text
    link.click()
    wait_until(lambda: _charts_drawn(browser) >= 1, 20, 0.2, what="the waterfall on the prediction page")
    assert pid in browser.find_element(By.TAG_NAME, "h1").text
    spans = browser.find_element(By.ID, "spans").text
    for expected in ("gateway", "scoring", "feature_lookup customer_features", "inference credit",
                     "postprocess threshold", "decision ="):  # fmt: skip
        assert expected in spans, (expected, spans)
    highlighted = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#spans tr.drifted")]
    assert highlighted and all(t.startswith("income") for t in highlighted), highlighted
    doc = json.loads(urllib.request.urlopen(f"{api}/v1/predictions/{pid}", timeout=10).read())
    inference = next(s for s in doc["spans"] if s["name"] == "inference credit")
    value = inference["attributes"]["ml.feature.income"]
    assert f"{value:.4g}" in highlighted[0]  # the value the person sees is the one on the span
    summary = browser.find_element(By.ID, "summary").text
    assert "ml.prediction.score" in summary and ("approve" in summary or "deny" in summary), summary
    bars = browser.find_elements(By.CSS_SELECTOR, "div.chart g.trace.bars path")
    assert len(bars) == len(doc["spans"]), (len(bars), len(doc["spans"]))
    legend = browser.find_element(By.CSS_SELECTOR, "div.chart g.legend").text
    assert "gateway" in legend and "scoring" in legend, legend
    _screenshot(browser, "prediction")

    # the same page as one offline file: `otelml drift --html`, its prediction links lead to the sidecar
    out = tmp_path / "drift.html"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "otelml.cli", "drift", "--url", api, "--html", str(out)],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert run.returncode == 0 and f"report written to {out}" in run.stdout, run.stdout + run.stderr
    browser.get(out.as_uri())
    wait_until(lambda: _charts_drawn(browser) >= 4, 20, 0.2, what="plotly charts in the drift report")
    card = browser.find_element(By.ID, "feature-income")
    assert "drifted" in card.get_attribute("class")
    link = card.find_element(By.CSS_SELECTOR, "details.predictions a")
    assert link.get_attribute("href").startswith(f"{api}/ui/predictions/")
    link.click()
    assert "scoring" in browser.find_element(By.ID, "spans").text

    # what a person can get wrong: a malformed id, a model name with markup, the chart library's own asset
    status, page = incident.get("/ui/predictions/not-hex")
    assert status == 400 and "lowercase hex" in page
    status, page = incident.get("/ui/models/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert status == 404 and "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page, page
    status, js = incident.get("/ui/assets/plotly.min.js")
    assert status == 200 and len(js) > 1_000_000 and "plotly" in js[:2000].lower()


def test_a_performance_alert_on_the_model_page_leads_to_a_wrong_prediction(
    sidecar: Any, otlp_sink: Any, browser: Any, tmp_path: Path
) -> None:
    """A model's f1 drops in its second window (labels come in); the model page's alert timeline shows the
    drop and links the window's wrongest predictions; the link opens a prediction the model got wrong."""
    import requests
    from selenium.webdriver.common.by import By

    from tests.collector.performance.test_performance import predictions, spans_of
    from tests.collector.predictions.spans import T0, label, request

    processors = {
        "ml_extract": {},
        "predictions": {},
        "performance": {"window": {"size": 400}, "baseline": {"warmup": 400}, "thresholds": {"f1": 0.1},
                        "evaluate_interval": "0s"},
    }  # fmt: skip
    car = sidecar(sidecar_config(tmp_path, downstream=otlp_sink.endpoint, processors=processors))
    rng = np.random.default_rng(5)
    healthy, damaged = predictions(rng, 400), predictions(rng, 400, flip=0.6)
    for n, rows in enumerate((healthy, damaged)):
        spans = spans_of(rows)
        for i, span in enumerate(spans):  # a prediction every 9 s: the windows span an hour each
            span["start_time_unix_nano"] = T0 + (400 * n + i) * 9 * 10**9
            span["end_time_unix_nano"] = span["start_time_unix_nano"] + 10**6
        for body in (request("svc", spans), request("labels", [label(r[0], r[4]) for r in rows])):
            resp = requests.post(car.http_url + "/v1/traces", data=body.raw, timeout=30,
                                 headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
            assert resp.status_code == 200, resp.text

    def alerted() -> bool:
        status, doc = car.get("/v1/performance?model=credit")
        return status == 200 and any(w["alerts"] for w in doc["windows"])

    wait_until(alerted, 30, 0.3, what="a performance alert in /v1/performance")
    browser.get(f"{car.api}/ui/models/credit")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#alerts tr") if "performance" in r.text)
    assert "f1" in row.text and "dropped below the reference" in row.text, row.text
    links = row.find_elements(By.TAG_NAME, "a")
    assert links, row.get_attribute("outerHTML")
    wrong = {r[1].hex(): r for r in damaged if r[3] != r[4]}
    trace = links[0].get_attribute("href").rsplit("/", 1)[1]
    assert trace in wrong  # the wrongest prediction of the damaged window
    _screenshot(browser, "performance-alert")
    links[0].click()
    wait_until(lambda: "inference credit" in browser.find_element(By.ID, "spans").text, 20, 0.2,
               what="the prediction page of the linked trace")  # fmt: skip
    assert wrong[trace][0] in browser.find_element(By.TAG_NAME, "h1").text  # its prediction id
