"""The web UI's cost: page latency, and sidecar throughput while pages are being read.

    .venv/bin/python benchmarks/bench_ui.py [--runs 5] [--requests 120] [--page-interval 1.0]

One real sidecar (`python -m otelml_collector`, pipeline ml_extract + drift + predictions + performance,
the throughput contract's configuration) forwards pre-encoded OTLP/gRPC requests of 512 inference spans
(bench_sidecar.py's requests and sink) to a local sink. After a warm-up that fills drift windows and the
prediction store, runs alternate between

- `quiet`: nobody reads the UI;
- `ui`: a reader fetches `/ui/` and `/ui/models/churn` every `--page-interval` seconds (a person, or a
  dashboard refreshing), and `/ui/predictions/{id}` of a stored prediction;

reporting spans/s per run (median over runs, ratio ui/quiet: the issue's target is a cost <= 3 %), and the
latency of each page (median, 95th percentile) measured by the reader under load and, afterwards, on an
idle sidecar. Prints a Markdown table for docs/benchmarks.md and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sidecar import SPANS_PER_REQUEST, Sidecar, Sink, make_requests, run

PROCESSORS = ["ml_extract", "drift", "predictions", "performance"]


def fetch(url: str) -> float:
    """Seconds to read the whole page; raises on a status other than 200."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}")
    return time.perf_counter() - t0


class Reader(threading.Thread):
    def __init__(self, pages: dict[str, str], interval: float) -> None:
        super().__init__(daemon=True)
        self.pages, self.interval = pages, interval
        self.times: dict[str, list[float]] = {name: [] for name in pages}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            for name, url in self.pages.items():
                self.times[name].append(fetch(url))
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def quantiles(values: list[float]) -> tuple[float, float]:
    ms = sorted(v * 1000 for v in values)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=120, help="requests per run (512 spans each)")
    parser.add_argument("--page-interval", type=float, default=1.0, help="seconds between page reads")
    parser.add_argument("--idle-reads", type=int, default=20, help="reads of each page on the idle sidecar")
    args = parser.parse_args()

    requests = make_requests(64, numeric=20)
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = Sidecar(sink.port, PROCESSORS, Path(tmp), queue=32)
        try:
            api = f"http://127.0.0.1:{sidecar.api_port}"
            run(sidecar, sink, requests, 60)  # warm-up: a baseline, closed windows, stored predictions
            time.sleep(2)
            with urllib.request.urlopen(f"{api}/v1/predictions?model=churn&limit=1", timeout=30) as resp:
                pid = json.loads(resp.read())["predictions"][0]["prediction_id"]
            pages = {
                "/ui/": f"{api}/ui/",
                "/ui/models/churn": f"{api}/ui/models/churn",
                "/ui/predictions/{id}": f"{api}/ui/predictions/{pid}",
            }
            rates: dict[str, list[float]] = {"quiet": [], "ui": []}
            loaded: dict[str, list[float]] = {name: [] for name in pages}
            for i in range(args.runs * 2):
                mode = ("quiet", "ui")[(i + i // 2) % 2]  # quiet ui ui quiet quiet ui ...
                reader = Reader(pages, args.page_interval) if mode == "ui" else None
                if reader is not None:
                    reader.start()
                rate, _cpu, _refused = run(sidecar, sink, requests, args.requests)
                if reader is not None:
                    reader.stop.set()
                    reader.join()
                    for name, times in reader.times.items():
                        loaded[name] += times
                rates[mode].append(rate)
                print(f"  run {i + 1}: {mode:<5} {rate:>9,.0f} spans/s", file=sys.stderr)
            idle, cpu_ms = {}, {}
            for name, url in pages.items():  # sidecar CPU per read: what a reader costs, whatever the noise
                cpu0 = sidecar.cpu_seconds()
                idle[name] = [fetch(url) for _ in range(args.idle_reads)]
                cpu_ms[name] = (sidecar.cpu_seconds() - cpu0) * 1000 / args.idle_reads
            asset = [fetch(f"{api}/ui/assets/plotly.min.js") for _ in range(5)]
        finally:
            sidecar.close()
            sink.close()

    quiet, ui = statistics.median(rates["quiet"]), statistics.median(rates["ui"])
    print(f"\n{args.runs} runs each of {args.requests} requests x {SPANS_PER_REQUEST} spans, pipeline "
          f"{' + '.join(PROCESSORS)}, pages every {args.page_interval:g} s\n")  # fmt: skip
    print("| configuration | spans/s (median) | min | max | ratio to quiet |")
    print("|---|---:|---:|---:|---:|")
    for mode in ("quiet", "ui"):
        r = rates[mode]
        print(f"| {mode} | {statistics.median(r):,.0f} | {min(r):,.0f} | {max(r):,.0f} | "
              f"{statistics.median(r) / quiet:.3f} |")  # fmt: skip
    print("\n| page | under load: median ms | p95 ms | idle: median ms | p95 ms | sidecar CPU ms per read |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in pages:
        lm, lp = quantiles(loaded[name]) if loaded[name] else (float("nan"), float("nan"))
        im, ip = quantiles(idle[name])
        print(f"| `{name}` | {lm:.1f} | {lp:.1f} | {im:.1f} | {ip:.1f} | {cpu_ms[name]:.1f} |")
    am, ap = quantiles(asset)
    print(f"| `/ui/assets/plotly.min.js` | | | {am:.1f} | {ap:.1f} | |")
    per_cycle = sum(cpu_ms.values())
    share = per_cycle / 10 / args.page_interval
    print(f"\nreading the three pages every {args.page_interval:g} s costs {per_cycle:.0f} ms of sidecar CPU "
          f"per cycle = {share:.1f} % of one core")  # fmt: skip
    print(json.dumps({"quiet": rates["quiet"], "ui": rates["ui"], "ratio": ui / quiet,
                      "idle_ms": {n: quantiles(v) for n, v in idle.items()}, "cpu_ms": cpu_ms}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
