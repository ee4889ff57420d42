"""Sidecar throughput: pre-encoded OTLP/gRPC trace requests through the real sidecar to a local sink.

    .venv/bin/python benchmarks/bench_sidecar.py [--runs 5] [--requests 200] [--rss-spans 1000000]

Each request is an ExportTraceServiceRequest of 512 inference spans with 25 attributes (16 numeric +
2 categorical features, prediction value/score/id, model name/version, operation, segment; 20 numeric
when `drift` runs, as the drift issue's target asks, and then for every configuration of the run), encoded
once before timing. The sidecar (`python -m otelml_collector --config ...`, a subprocess) receives
them over gRPC and forwards them over gRPC to a sink process that counts the bytes it got. A run
sends `--requests` requests with up to 8 in flight and ends when the sink has all of them; spans/s
= spans / wall time of the run. Configurations, alternating run by run in the same session:

- `extract`: pipeline otlp -> ml_extract -> otlp (the target: >= 50,000 spans/s);
- `forward`: pipeline otlp -> otlp (the baseline: the same hop with no processor);
- `drift` (with --drift, when the drift processor is installed): ml_extract + drift;
- `predictions` (with --predictions): ml_extract + drift + predictions (the prediction store);
- `performance` (with --performance): ml_extract + drift + performance;
- `all` (with --predictions --performance): ml_extract + drift + predictions + performance;
- `forward+disk`, `extract+disk` (with --disk-queue): the same with the exporter's sending queue on
  disk (`extensions.file_storage`, `sending_queue.storage`), compared with the in-memory queue.
- `slo` (with --slo): ml_extract + drift + slo with a latency and an errors objective.

With the prediction store on, the report adds what it stored and dropped (its writer queue drops
when the disk falls behind) and its bytes on disk per stored span (SQLite `dbstat`).

Reported per configuration: median/min/max spans/s over the runs, sidecar CPU (user+sys) per span,
and the ratio to `forward`. Then RSS of one sidecar (`--rss-config`, default extract) before and after
`--rss-spans` more spans through it. Prints a Markdown table (for docs/benchmarks.md) and a JSON line.
With `--callgrind N`, instead of timing: instructions per span of each whole sidecar process (all
threads) under valgrind's callgrind over N requests, deterministic where CPU time on shared cores
is not.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_REQUEST = 512
IN_FLIGHT = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_requests(count: int, seed: int = 7, numeric: int = 16) -> list[bytes]:
    """`count` distinct requests of 512 inference spans x (9 + `numeric`) attributes (values vary per
    span): 16 numeric features give the pipeline issue's 25 attributes, 20 the drift issue's 20 + 2."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    rng = random.Random(seed)

    def kv(key: str, value: object) -> KeyValue:
        if isinstance(value, str):
            return KeyValue(key=key, value=AnyValue(string_value=value))
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(double_value=float(value)))  # type: ignore[arg-type]

    out = []
    for _ in range(count):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", "bench-model-service"))
        ss = rs.scope_spans.add()
        ss.scope.name = "otelml"
        for _ in range(SPANS_PER_REQUEST):
            span = ss.spans.add(
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                parent_span_id=rng.randbytes(8),
                name="inference churn",
                kind=1,
                start_time_unix_nano=1_700_000_000_000_000_000,
                end_time_unix_nano=1_700_000_000_002_000_000,
            )
            attrs = [
                kv("ml.operation.name", "inference"),
                kv("ml.model.name", "churn"),
                kv("ml.model.version", "3"),
                kv("ml.prediction.id", rng.randbytes(8).hex()),
                kv("ml.prediction.value", rng.randint(0, 1)),
                kv("ml.prediction.score", rng.random()),
                kv("ml.segment.region", rng.choice(["eu", "us", "apac"])),
                kv("ml.feature.plan", rng.choice(["free", "pro", "team"])),
                kv("ml.feature.channel", rng.choice(["web", "ios", "android", "api"])),
            ]
            attrs += [kv(f"ml.feature.f{j:02d}", rng.gauss(j, 1.0)) for j in range(numeric)]
            span.attributes.extend(attrs)
        out.append(req.SerializeToString())
    return out


# -- sink: a gRPC server that acknowledges every OTLP export and counts trace bytes ---------------
def _sink_main(port: int, received: mp.Value, ready: mp.Event, stop: mp.Event) -> None:  # type: ignore[type-arg]
    import grpc

    def handler(method: str):  # type: ignore[no-untyped-def]
        def export(raw: bytes, context: grpc.ServicerContext) -> bytes:
            if method == TRACE_EXPORT:
                with received.get_lock():
                    received.value += len(raw)
            return b""  # an empty Export*ServiceResponse

        return grpc.unary_unary_rpc_method_handler(export)

    class Generic(grpc.GenericRpcHandler):
        def service(self, details):  # type: ignore[no-untyped-def]
            return handler(details.method)

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        handlers=[Generic()],
        options=[("grpc.max_receive_message_length", 64 << 20)],
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    stop.wait()
    server.stop(0)


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        ctx = mp.get_context("spawn")
        self.received = ctx.Value("q", 0)
        self._ready, self._stop = ctx.Event(), ctx.Event()
        self._proc = ctx.Process(target=_sink_main, args=(self.port, self.received, self._ready, self._stop))
        self._proc.start()
        if not self._ready.wait(30):
            raise RuntimeError("sink did not start")

    def bytes(self) -> int:
        with self.received.get_lock():
            return int(self.received.value)

    def close(self) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


SLO_CONFIG = {
    "objectives": [
        {"name": "latency", "model": "churn", "indicator": "latency", "threshold": "250ms", "target": 0.99},
        {"name": "errors", "model": "churn", "indicator": "errors", "target": 0.999},
    ]
}
"""`--slo`: the two span objectives of docs/slo.md (each span decoded for its duration and status)."""


# -- the sidecar under test --------------------------------------------------------------------
class Sidecar:
    def __init__(
        self,
        sink_port: int,
        processors: list[str],
        workdir: Path,
        queue: int | None,
        tree: Path | None = None,
        disk: bool = False,
        callgrind: bool = False,
    ) -> None:
        self.grpc_port, self.api_port = free_port(), free_port()
        procs: dict[str, dict] = {p: {} for p in processors}
        if "slo" in procs:
            procs["slo"] = SLO_CONFIG
        config = {
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"}}}},
            "processors": procs,
            "exporters": {
                "otlp": {
                    "endpoint": f"http://127.0.0.1:{sink_port}",
                    "protocol": "grpc",
                    "tls": {"insecure": True},
                }
            },
            "service": {
                "http": {"endpoint": f"127.0.0.1:{self.api_port}"},
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "processors": processors, "exporters": ["otlp"]}
                },
                "telemetry": {"logs": {"level": "warning"}},
                **({"queue": {"max_requests": queue}} if queue else {}),
            },
            "state": {"path": str(workdir / f"state-{'-'.join(processors) or 'none'}")},
        }
        tag = f"{'-'.join(processors) or 'none'}{'-' + tree.name if tree else ''}{'-disk' if disk else ''}"
        if disk:
            config["extensions"] = {"file_storage": {"directory": str(workdir / f"queue-{tag}")}}
            config["service"]["extensions"] = ["file_storage"]
            config["exporters"]["otlp"]["sending_queue"] = {"storage": "file_storage"}
        config["state"] = {"path": str(workdir / f"state-{tag}")}
        path = workdir / f"sidecar-{tag}.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        if tree is not None:  # another checkout (with its C extension built in place) ahead of this one
            env["PYTHONPATH"] = os.pathsep.join([str(tree / "collector"), str(tree)])
        self.log = (workdir / f"{path.stem}.log").open("w")
        self.callgrind_out = workdir / f"callgrind-{tag}.out"
        prefix = (
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={self.callgrind_out}",
            ]
            if callgrind
            else []
        )
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "otelml_collector", "--config", str(path)],
            cwd=tree or ROOT,  # `-m` puts the working directory first on sys.path
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + (600 if callgrind else 60)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sidecar exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"sidecar not healthy after 60 s; see {self.log.name}")

    def check_tree(self, tree: Path) -> None:
        """Fail unless the sidecar process loaded the C extension from `tree` (not this checkout)."""
        maps = Path(f"/proc/{self.proc.pid}/maps").read_text()
        paths = {line.split()[-1] for line in maps.splitlines() if "_fastscan" in line}
        if not paths or not all(Path(p).is_relative_to(tree) for p in paths):
            raise RuntimeError(f"sidecar from {tree} loaded {sorted(paths) or 'no _fastscan'}")

    def instructions(self, sink: Sink, requests: list[bytes], count: int) -> float:
        """Instructions per span of the whole sidecar process (every thread) under callgrind while
        it takes `count` requests, after a warm-up; deterministic, unlike CPU time on shared cores."""
        run(self, sink, requests, 20)
        control = ["callgrind_control", "--instr=on", str(self.proc.pid)]
        subprocess.run(control, check=True, capture_output=True)
        run(self, sink, requests, count)
        control[1] = "--instr=off"
        subprocess.run(control, check=True, capture_output=True)
        subprocess.run(["callgrind_control", "--dump", str(self.proc.pid)], check=True, capture_output=True)
        dump = Path(f"{self.callgrind_out}.1")  # written by the sidecar's process after the request
        deadline = time.monotonic() + 120
        while True:
            text = dump.read_text() if dump.exists() else ""
            totals = [int(x.split()[1]) for x in text.splitlines() if x.startswith("totals:")]
            if totals:
                return totals[0] / (count * SPANS_PER_REQUEST)
            if time.monotonic() > deadline:
                raise RuntimeError(f"no callgrind dump in {dump}")
            time.sleep(0.5)

    def store_stats(self) -> dict[str, float]:
        """The prediction store's counters (`/v1/predictions/store/stats`), after its writer caught up."""
        url = f"http://127.0.0.1:{self.api_port}/v1/predictions/store/stats"
        deadline = time.monotonic() + 120
        while True:
            with urllib.request.urlopen(url, timeout=30) as resp:
                stats = json.loads(resp.read())
            if not stats["queued_chunks"] or time.monotonic() > deadline:
                return stats
            time.sleep(0.5)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def profile(sidecar: Sidecar, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the sidecar thread holding the GIL until SIGINT; collapsed stacks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    cmd = [
        str(py_spy),
        "record",
        "--pid",
        str(sidecar.proc.pid),
        "--format",
        "raw",
        "--rate",
        "250",
        "-o",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def send(
    port: int, requests: list[bytes] | Callable[[int], list[bytes]], count: int, first: int = 0
) -> int:
    """Exports `first` .. `first + count - 1`, IN_FLIGHT threads each with one call at a time: export
    `i` cycles through the pre-encoded `requests`, or is what `requests(i)` gives (one or more calls).
    RESOURCE_EXHAUSTED (the sidecar's queue is full: backpressure) is retried after 20 ms; returns
    how many times that happened."""
    import grpc

    calls_of = requests if callable(requests) else (lambda i: [requests[i % len(requests)]])

    with grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
    ) as ch:
        export = ch.unary_unary(TRACE_EXPORT)  # bytes in, bytes out: the client does no encoding
        lock = threading.Lock()
        state = {"next": first, "refused": 0}

        def worker() -> None:
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= first + count:
                    return
                for raw in calls_of(i):
                    while True:
                        try:
                            export(raw, timeout=60)
                            break
                        except grpc.RpcError as exc:
                            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                                raise
                            with lock:
                                state["refused"] += 1
                            time.sleep(0.02)

        with futures.ThreadPoolExecutor(IN_FLIGHT) as pool:
            for f in [pool.submit(worker) for _ in range(IN_FLIGHT)]:
                f.result()
        return state["refused"]


def run(sidecar: Sidecar, sink: Sink, requests: list[bytes], count: int) -> tuple[float, float, int]:
    """(spans/s, sidecar CPU µs per span, refused calls) for `count` requests, timed until the sink
    has them all. Refused calls (backpressure) were received and checked too: their CPU is counted."""
    sizes = [len(requests[i % len(requests)]) for i in range(count)]
    target = sink.bytes() + sum(sizes)
    cpu0, t0 = sidecar.cpu_seconds(), time.perf_counter()
    refused = send(sidecar.grpc_port, requests, count)
    deadline = time.monotonic() + 300
    while sink.bytes() < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"sink got {sink.bytes()} of {target} bytes; see {sidecar.log.name}")
        time.sleep(0.002)
    elapsed, cpu = time.perf_counter() - t0, sidecar.cpu_seconds() - cpu0
    spans = count * SPANS_PER_REQUEST
    return spans / elapsed, cpu / spans * 1e6, refused


def breakdown(requests: list[bytes], repeat: int = 15) -> list[tuple[str, float, float]]:
    """In-process cost per span of each stage on the same requests: (stage, min, median µs/span)."""
    import timeit

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from otelml_collector import otlp
    from otelml_collector.otlp import check_traces, codec
    from otelml_collector.pipeline import Signal
    from otelml_collector.processors.extract.assemble import Caps, Schema, assemble
    from otelml_collector.processors.extract.scan import scan_fast, scan_reference

    raw = requests[0]
    message = ExportTraceServiceRequest.FromString(raw)

    def protobuf_receive() -> None:  # what the receiver did per request before check_traces
        decoded = ExportTraceServiceRequest.FromString(raw)
        codec._VALIDATORS[Signal.TRACES](decoded)
        otlp.count_items(Signal.TRACES, decoded)

    def naive_walk() -> None:  # the textbook extraction: walk the decoded attributes in Python
        for rs in message.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    row = {}
                    for kv in span.attributes:
                        value = kv.value
                        row[kv.key] = getattr(value, value.WhichOneof("value"))

    scanned, schema = scan_fast(raw), Schema(Caps())
    stages = [
        ("receive: protobuf decode + id validation (before)", protobuf_receive),
        ("receive: C check_traces (now)", lambda: check_traces(raw)),
        ("extract: naive Python walk of decoded attributes", naive_walk),
        ("extract: reference scan (protobuf walk, fallback)", lambda: scan_reference(raw)),
        ("extract: C scan_fast", lambda: scan_fast(raw)),
        ("extract: numpy assembly into ModelBatch", lambda: assemble(scanned, schema)),
        (
            "forward: TelemetryRequest.message lazy decode (only if a processor asks)",
            lambda: ExportTraceServiceRequest.FromString(raw),
        ),
    ]
    # Stages interleaved round-robin so load from other processes hits all alike; min and median.
    times: dict[str, list[float]] = {name: [] for name, _ in stages}
    for _ in range(repeat):
        for name, fn in stages:
            number = 2 if "walk" in name or "reference" in name else 10
            times[name].append(timeit.timeit(fn, number=number) / number / SPANS_PER_REQUEST * 1e6)
    return [(name, min(t), statistics.median(t)) for name, t in times.items()]


def count_instructions(
    configs: dict[str, list[str]],
    trees: dict[str, Path | None],
    requests: list[bytes],
    count: int,
    queue: int | None,
) -> int:
    """`--callgrind`: a Markdown table of instructions per span, and each tree's ratio to `@base`."""
    counts: dict[str, float] = {}
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sidecar-cg-") as tmp:
            for name, procs in configs.items():
                sidecar = Sidecar(sink.port, procs, Path(tmp), queue, trees[name], callgrind=True)
                try:
                    counts[name] = sidecar.instructions(sink, requests, count)
                finally:
                    sidecar.close()
    finally:
        sink.close()
    print(
        f"\ninstructions per span, whole sidecar (callgrind), {count} requests x {SPANS_PER_REQUEST} spans\n"
    )
    print("| pipeline | instructions/span | vs @base |")
    print("|---|---:|---:|")
    for name, value in counts.items():
        base = counts.get(f"{name}@base")
        print(f"| {name} | {value:,.0f} | {f'{value / base:.3f}' if base else ''} |")
    print(json.dumps({"instructions_per_span": counts}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="requests per run (512 spans each)")
    parser.add_argument("--rss-spans", type=int, default=1_000_000)
    parser.add_argument("--rss-config", default="extract", help="configuration whose RSS is measured")
    parser.add_argument("--drift", action="store_true", help="also run ml_extract + drift")
    parser.add_argument(
        "--predictions", action="store_true", help="also run ml_extract + drift + predictions"
    )
    parser.add_argument(
        "--performance", action="store_true", help="also run ml_extract + drift + performance"
    )
    parser.add_argument(
        "--only",
        choices=[
            "forward",
            "extract",
            "drift",
            "predictions",
            "performance",
            "all",
            "forward+disk",
            "extract+disk",
        ],
        action="append",
        help="configurations to run",
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy (if installed) each sidecar during the runs")
    parser.add_argument(
        "--queue",
        type=int,
        default=32,
        help="service.queue.max_requests: requests the sidecar may hold before its processors (0: the "
        "default, 256); a client at saturation keeps that queue full, so RSS includes what it holds",
    )
    parser.add_argument(
        "--numeric", type=int, default=0, help="numeric features per span (default 20 with drift, else 16)"
    )
    parser.add_argument(
        "--disk-queue", action="store_true", help="also run forward and extract with a disk sending queue"
    )
    parser.add_argument("--slo", action="store_true", help="also run ml_extract + drift + slo")
    parser.add_argument("--breakdown", action="store_true", help="also time each stage in-process")
    parser.add_argument(
        "--callgrind",
        type=int,
        metavar="REQUESTS",
        help="instead of timing: instructions per span of each sidecar (all threads) under valgrind's "
        "callgrind over REQUESTS requests, one configuration at a time",
    )
    parser.add_argument(
        "--compare",
        "--baseline",
        dest="compare",
        metavar="TREE",
        type=Path,
        help="also run every configuration from another checkout (e.g. `git worktree add ../base HEAD~1` + "
        "`python setup.py build_ext --inplace` there), alternating run by run; rows `<name>@base`",
    )
    args = parser.parse_args()

    every = {
        "forward": [],
        "extract": ["ml_extract"],
        "drift": ["ml_extract", "drift"],
        "predictions": ["ml_extract", "drift", "predictions"],
        "performance": ["ml_extract", "drift", "performance"],
        "all": ["ml_extract", "drift", "predictions", "performance"],
        "forward+disk": [],
        "extract+disk": ["ml_extract"],
        "slo": ["ml_extract", "drift", "slo"],
    }
    wanted = {"forward", "extract"}
    wanted |= {"drift"} if args.drift or args.predictions or args.performance else set()
    wanted |= {"predictions"} if args.predictions else set()
    wanted |= {"performance"} if args.performance else set()
    wanted |= {"all"} if args.predictions and args.performance else set()
    wanted |= {"forward+disk", "extract+disk"} if args.disk_queue else set()
    wanted |= {"drift", "slo"} if args.slo else set()
    configs = {k: v for k, v in every.items() if k in (set(args.only) if args.only else wanted)}
    trees: dict[str, Path | None] = {name: None for name in configs}
    if args.compare:
        trees.update({f"{name}@base": args.compare.resolve() for name in list(configs)})
        configs.update({f"{name}@base": procs for name, procs in list(configs.items())})
    numeric = args.numeric or (20 if any("drift" in v for v in configs.values()) else 16)
    requests = make_requests(16, numeric=numeric)
    if args.callgrind:
        return count_instructions(configs, trees, requests, args.callgrind, args.queue or None)
    sink = Sink()
    results: dict[str, dict[str, list[float]]] = {
        name: {"rate": [], "cpu": [], "refused": []} for name in configs
    }
    rss: dict[str, float] = {}
    stores: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sidecar-") as tmp:
        sidecars: dict[str, Sidecar] = {}
        try:
            for name, procs in configs.items():
                sidecars[name] = Sidecar(
                    sink.port, procs, Path(tmp), args.queue or None, trees[name], disk="+disk" in name
                )
                run(sidecars[name], sink, requests, 20)  # warm-up: connections, baselines, caches
                sidecars[name].check_tree(trees[name] or ROOT)
            profilers = (
                [profile(s, Path(args.profile) / f"{n}.txt") for n, s in sidecars.items()]
                if args.profile
                else []
            )
            for _ in range(args.runs):
                for name in configs:
                    rate, cpu, refused = run(sidecars[name], sink, requests, args.requests)
                    results[name]["rate"].append(rate)
                    results[name]["cpu"].append(cpu)
                    results[name]["refused"].append(refused)
            for p in profilers:
                p.send_signal(signal.SIGINT)
                p.wait(60)
            for name, sidecar in sidecars.items():
                if "predictions" in configs[name]:
                    stores[name] = sidecar.store_stats()
            if args.rss_spans and args.rss_config in sidecars:
                measured = sidecars[args.rss_config]
                rss["before"] = measured.rss_mib()
                rate, _, _ = run(measured, sink, requests, -(-args.rss_spans // SPANS_PER_REQUEST))
                rss["after"], rss["rate"] = measured.rss_mib(), rate
        finally:
            for sidecar in sidecars.values():
                sidecar.close()
            sink.close()

    base = statistics.median(results["forward"]["rate"]) if "forward" in results else float("nan")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{args.runs} runs x {args.requests} requests x {SPANS_PER_REQUEST} spans, {IN_FLIGHT} in flight, "
        f"{os.cpu_count()} CPUs, {numeric} numeric + 2 categorical features, load average at the end {load} "
        "(other work skews all figures)\n"
    )
    print(
        "| pipeline | spans/s median | min | max | vs forward | sidecar CPU µs/span (median) "
        "| refused calls/run (median) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        med = statistics.median(r["rate"])
        print(
            f"| {name} | {med:,.0f} | {min(r['rate']):,.0f} | {max(r['rate']):,.0f} | {med / base:.2f} | "
            f"{statistics.median(r['cpu']):.1f} | {statistics.median(r['refused']):.0f} |"
        )
    for name, r in results.items():
        if name.endswith("@base") and name[: -len("@base")] in results:
            new = statistics.median(results[name[: -len("@base")]]["rate"])
            print(f"{name[: -len('@base')]}: this tree / base = {new / statistics.median(r['rate']):.3f}")
    if rss:
        print(
            f"\nRSS of the {args.rss_config} sidecar: {rss['before']:.1f} MiB before, "
            f"{rss['after']:.1f} MiB after "
            f"{args.rss_spans:,} more spans (growth {rss['after'] - rss['before']:+.1f} MiB; "
            f"{rss['rate']:,.0f} spans/s sustained over that run)"
        )
    for name, st in stores.items():
        per_span = st["disk_bytes"] / st["spans"] if st["spans"] else float("nan")
        print(
            f"\nprediction store of `{name}`: {st['stored_spans']:,} spans stored, "
            f"{st['dropped_spans']:,} dropped (writer queue full), {st['evicted_spans']:,} evicted; "
            f"{st['disk_bytes'] / 2**20:.1f} MiB on disk for "
            f"{st['spans']:,} spans = {per_span:.0f} bytes per stored span (request size "
            f"{sum(len(r) for r in requests) / len(requests) / SPANS_PER_REQUEST:.0f} bytes per span)"
        )
    stages = breakdown(requests) if args.breakdown else []
    if stages:
        print("\n| stage (in-process, same requests, 15 interleaved runs) | µs/span min | median |")
        print("|---|---:|---:|")
        for name, low, med in stages:
            print(f"| {name} | {low:.2f} | {med:.2f} |")
    print(json.dumps({"results": results, "rss_mib": rss, "stages": stages, "stores": stores}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
