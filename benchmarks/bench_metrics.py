"""What `/metrics` costs: the scrape's latency with many models, and the sidecar's throughput while scraped.

    .venv/bin/python benchmarks/bench_metrics.py [--runs 5] [--requests 600] [--scrape-every 1.0]
                                                 [--models 100] [--features 50]

1. Latency: in one process, the sidecar's MeterProvider (drift views, `PullMetricReader`) holds what the
   drift processor emits for `--models` models x `--features` features x the 4 default numeric methods
   (one closed window each; 10% of the features drifted, each with 16 exemplar predictions, so
   `ml.drift.detections` carries exemplars), plus the sidecar's own metrics. The real `HttpApi` serves
   `/metrics`; the median of 10 GETs per format (Prometheus text 0.0.4, OpenMetrics) is reported, and of
   10 OpenMetrics GETs each after one more closed window of one model (`changed`: 200 gauges and the
   drifted features' counters with new exemplars; the emission itself is not timed).
2. Throughput: the real sidecar (subprocess, ml_extract + drift + predictions + performance) takes
   pre-encoded OTLP/gRPC requests of 512 inference spans (benchmarks/bench_sidecar.py's load and sink);
   runs alternate between no scraper and a scraper GETting OpenMetrics `/metrics` every `--scrape-every`
   seconds (Prometheus's default is 60 s, common settings 10-15 s). Median spans/s and the ratio.
Prints Markdown tables for docs/benchmarks.md and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "collector"), str(Path(__file__).resolve().parent)]

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def get(url: str, accept: str = "") -> tuple[float, int]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as resp:
        body = resp.read()
    return time.perf_counter() - t0, len(body)


def timed_get(url: str, accept: str) -> tuple[float, float, int]:
    """(wall s, CPU s of this process - server and client both live here, size)."""
    cpu0 = time.process_time()
    wall, size = get(url, accept)
    return wall, time.process_time() - cpu0, size


def latency(models: int, features: int) -> dict[str, float]:
    from otelml_collector.httpapi import EventLoopThread, HttpApi, RawResponse
    from otelml_collector.processors.drift.outputs import DriftEmitter, DriftResult, Exemplar, drift_views
    from otelml_collector.prometheus import PrometheusExposition
    from otelml_collector.telemetry import Counters, PullMetricReader, build_providers

    reader = PullMetricReader()
    meters, loggers = build_providers(None, None, views=drift_views(), extra_readers=[reader])
    Counters().register_instruments(meters)
    emitter = DriftEmitter(meters, loggers, logging.getLogger("bench"))
    rng = random.Random(1)

    def window(m: int) -> None:  # one closed window of model m: every feature and method, 10% drifted
        results, now = [], time.time_ns()
        for f in range(features):
            drifted = f % 10 == 0
            exemplars = [Exemplar(rng.randbytes(16), rng.randbytes(8), rng.random())
                         for _ in range(16 if drifted else 0)]  # fmt: skip
            for method in ("wasserstein", "ks", "psi", "js"):
                results.append(DriftResult(
                    f"model_{m}", "1", f"feature_{f}", "feature", method, rng.random(), 0.1,
                    drifted and method == "wasserstein", drifted, 5000, now - 10**9, now, exemplars,
                ))  # fmt: skip
        emitter.emit(results)

    for m in range(models):
        window(m)
    exposition = PrometheusExposition(reader)
    api = HttpApi("127.0.0.1:0")

    def metrics(query: object, headers: dict[str, str]) -> RawResponse:
        return RawResponse(*exposition.render(headers.get("Accept")))

    api.add_get("/metrics", metrics, headers=True)
    loop = EventLoopThread()
    api.start(loop)
    url = f"http://127.0.0.1:{api.port}/metrics"
    out: dict[str, float] = {"series": models * features * 4}
    try:
        for name, accept in (("text", ""), ("openmetrics", OPENMETRICS)):
            get(url, accept)  # warm
            timings = [timed_get(url, accept) for _ in range(10)]
            out[f"{name}_ms"] = statistics.median(t for t, _, _ in timings) * 1000
            out[f"{name}_max_ms"] = max(t for t, _, _ in timings) * 1000
            out[f"{name}_cpu_ms"] = statistics.median(c for _, c, _ in timings) * 1000
            out[f"{name}_bytes"] = timings[0][2]
        timings = []
        for i in range(10):  # a model's window closed since the previous scrape (not timed: the processor's)
            window(i % models)
            timings.append(timed_get(url, OPENMETRICS))
        out["changed_ms"] = statistics.median(t for t, _, _ in timings) * 1000
        out["changed_max_ms"] = max(t for t, _, _ in timings) * 1000
        out["changed_cpu_ms"] = statistics.median(c for _, c, _ in timings) * 1000
        out["changed_bytes"] = timings[0][2]
    finally:
        api.shutdown()
        loop.stop()
        meters.shutdown()
    return out


class Scraper:
    def __init__(self, url: str, every: float) -> None:
        self.url, self.every = url, every
        self.scrapes, self.seconds = 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:  # the first scrape at once, then every `every` seconds
            elapsed, _ = get(self.url, OPENMETRICS)
            self.scrapes += 1
            self.seconds += elapsed
            if self._stop.wait(self.every):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def throughput(runs: int, count: int, every: float) -> dict[str, object]:
    from bench_sidecar import Sidecar, Sink, make_requests, run

    requests = make_requests(32, numeric=20)
    sink = Sink()
    work = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    sidecar = Sidecar(sink.port, ["ml_extract", "drift", "predictions", "performance"], work, queue=None)
    url = f"http://127.0.0.1:{sidecar.api_port}/metrics"
    rates: dict[str, list[float]] = {"quiet": [], "scraped": []}
    cpu: dict[str, list[float]] = {"quiet": [], "scraped": []}
    scrapes: list[tuple[int, float]] = []
    try:
        run(sidecar, sink, requests, count)  # warm-up: baselines learned, windows open, store warm
        for i in range(runs):
            for mode in ("quiet", "scraped") if i % 2 == 0 else ("scraped", "quiet"):
                scraper = Scraper(url, every) if mode == "scraped" else None
                rate, us_per_span, _ = run(sidecar, sink, requests, count)
                cpu[mode].append(us_per_span)
                if scraper is not None:
                    scraper.stop()
                    scrapes.append((scraper.scrapes, scraper.seconds))
                rates[mode].append(rate)
        _, size = get(url, OPENMETRICS)
        time.sleep(2)  # idle: what one scrape costs the sidecar, in its own CPU time
        cpu0 = sidecar.cpu_seconds()
        for _ in range(40):
            get(url, OPENMETRICS)
        idle_scrape_cpu_ms = (sidecar.cpu_seconds() - cpu0) / 40 * 1000
    finally:
        sidecar.close()
        sink.close()
    quiet, scraped = statistics.median(rates["quiet"]), statistics.median(rates["scraped"])
    cpu_quiet, cpu_scraped = statistics.median(cpu["quiet"]), statistics.median(cpu["scraped"])
    n = sum(s for s, _ in scrapes)
    return {
        "quiet": quiet, "scraped": scraped, "ratio": scraped / quiet, "runs": rates,
        "cpu_us_per_span": {"quiet": cpu_quiet, "scraped": cpu_scraped}, "cpu_ratio": cpu_scraped / cpu_quiet,
        "idle_scrape_cpu_ms": idle_scrape_cpu_ms,
        "scrapes": n, "scrape_ms": 1000 * sum(t for _, t in scrapes) / max(n, 1), "exposition_bytes": size,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=600, help="requests per throughput run (512 spans)")
    parser.add_argument("--scrape-every", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    lat = latency(args.models, args.features)
    print(f"\n/metrics with {args.models} models x {args.features} features x 4 methods "
          f"({lat['series']:.0f} drift series):\n")  # fmt: skip
    print("| format | median ms | max ms | median CPU ms | bytes |\n|---|---|---|---|---|")
    for name in ("text", "openmetrics", "changed"):
        ms, top, size = lat[f"{name}_ms"], lat[f"{name}_max_ms"], lat[f"{name}_bytes"]
        print(f"| {name} | {ms:.0f} | {top:.0f} | {lat[f'{name}_cpu_ms']:.0f} | {size:,.0f} |")
    result: dict[str, object] = {"latency": lat}
    if not args.skip_throughput:
        tp = throughput(args.runs, args.requests, args.scrape_every)
        result["throughput"] = tp
        print(f"\nSidecar (ml_extract + drift + predictions + performance), {args.runs} runs each, "
              f"{args.requests} x 512 spans per run, OpenMetrics scrape every {args.scrape_every:g} s "
              f"({tp['scrapes']} scrapes, {tp['scrape_ms']:.1f} ms each, "
              f"{tp['exposition_bytes']:,} bytes; sidecar CPU per scrape when idle "
              f"{tp['idle_scrape_cpu_ms']:.1f} ms):\n")
        print("| configuration | median spans/s | runs | ratio | sidecar CPU µs/span | CPU ratio |")
        print("|---|---|---|---|---|---|")
        cpus = tp["cpu_us_per_span"]
        for mode in ("quiet", "scraped"):
            runs = ", ".join(f"{r:,.0f}" for r in tp["runs"][mode])  # type: ignore[index]
            print(f"| {mode} | {tp[mode]:,.0f} | {runs} | {tp[mode] / tp['quiet']:.3f} | "  # type: ignore[operator]
                  f"{cpus[mode]:.2f} | {cpus[mode] / cpus['quiet']:.3f} |")  # type: ignore[index]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
