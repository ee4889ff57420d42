"""What TLS and the bearer token cost the sidecar: the same traffic with and without them, same run.

    .venv/bin/python benchmarks/bench_tls.py [--runs 5] [--requests 200]

Traffic as in bench_sidecar.py: pre-encoded OTLP/gRPC trace requests of 512 inference spans, 8 in
flight, through a real sidecar subprocess to a gRPC sink process that counts the bytes; a run ends
when the sink has them all. Per pipeline (`forward`: otlp -> otlp; `extract`: otlp -> ml_extract ->
otlp), two configurations alternate run by run:

- `plain`: plaintext receiver and exporter (the baseline);
- `tls`: the receiver serves TLS and requires `Authorization: Bearer <token>` (bearertokenauth), and
  the exporter sends over TLS to a sink that serves TLS (a CA made for the run with `cryptography`).

Reported: median/min/max spans/s over the runs and the cost of `tls` relative to `plain` (1 - median
ratio; the issue's target is <= 15 %), then CPU (user+sys) per span of each process: the sidecar
(what an operator pays for TLS: it decrypts what it receives and encrypts what it forwards), the
client (this process) and the sink. All three share the machine's cores, so the client's and the
sink's encryption weigh on the throughput figure too. Prints Markdown tables and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent import futures
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sidecar import SPANS_PER_REQUEST, TRACE_EXPORT, free_port, make_requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.certs import Pki, make_pki  # noqa: E402

IN_FLIGHT = 8
TOKEN = "benchmark-token-0123456789abcdef"


def _sink_main(port: int, tls: tuple[str, str] | None, received: Any, ready: Any, stop: Any) -> None:
    import grpc

    def export(raw: bytes, context: grpc.ServicerContext) -> bytes:
        with received.get_lock():
            received.value += len(raw)
        return b""

    class Generic(grpc.GenericRpcHandler):
        def service(self, details):  # type: ignore[no-untyped-def]
            if details.method == TRACE_EXPORT:
                return grpc.unary_unary_rpc_method_handler(export)
            return grpc.unary_unary_rpc_method_handler(lambda raw, ctx: b"")

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        handlers=[Generic()],
        options=[("grpc.max_receive_message_length", 64 << 20)],
    )
    if tls is None:
        server.add_insecure_port(f"127.0.0.1:{port}")
    else:
        cert, key = (Path(p).read_bytes() for p in tls)
        server.add_secure_port(f"127.0.0.1:{port}", grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    ready.set()
    stop.wait()
    server.stop(0)


class Sink:
    """A gRPC OTLP sink process (TLS with `tls=(cert_file, key_file)`) counting trace bytes."""

    def __init__(self, tls: tuple[str, str] | None) -> None:
        self.port = free_port()
        ctx = mp.get_context("spawn")
        self.received = ctx.Value("q", 0)
        self._ready, self._stop = ctx.Event(), ctx.Event()
        args = (self.port, tls, self.received, self._ready, self._stop)
        self._proc = ctx.Process(target=_sink_main, args=args)
        self._proc.start()
        if not self._ready.wait(30):
            raise RuntimeError("sink did not start")

    def bytes(self) -> int:
        with self.received.get_lock():
            return int(self.received.value)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self._proc.pid)

    def close(self) -> None:
        self._stop.set()
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sidecar:
    def __init__(self, name: str, sink: Sink, processors: list[str], pki: Pki | None, workdir: Path) -> None:
        self.grpc_port, self.api_port = free_port(), free_port()
        self.pki = pki
        receiver: dict[str, Any] = {"endpoint": f"127.0.0.1:{self.grpc_port}"}
        exporter: dict[str, Any] = {"endpoint": f"127.0.0.1:{sink.port}", "protocol": "grpc"}
        config: dict[str, Any] = {
            "receivers": {"otlp": {"protocols": {"grpc": receiver}}},
            "processors": {p: {} for p in processors},
            "exporters": {"otlp": exporter},
            "service": {
                "http": {"endpoint": f"127.0.0.1:{self.api_port}"},
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "processors": processors, "exporters": ["otlp"]}
                },
                "telemetry": {"logs": {"level": "warning"}},
            },
            "state": {"path": str(workdir / f"state-{name}")},
        }
        if pki is None:
            exporter["tls"] = {"insecure": True}
        else:
            receiver["tls"] = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
            receiver["auth"] = {"authenticator": "bearertokenauth"}
            exporter["tls"] = {"ca_file": str(pki.ca)}
            config["extensions"] = {"bearertokenauth": {"token": TOKEN}}
            config["service"]["extensions"] = ["bearertokenauth"]
        path = workdir / f"sidecar-{name}.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.log = (workdir / f"sidecar-{name}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "otelml_collector", "--config", str(path)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
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

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def send(sidecar: Sidecar, requests: list[bytes], count: int) -> None:
    import grpc

    options = [("grpc.max_send_message_length", 64 << 20)]
    target = f"127.0.0.1:{sidecar.grpc_port}"
    if sidecar.pki is None:
        channel = grpc.insecure_channel(target, options=options)
        metadata: tuple[tuple[str, str], ...] = ()
    else:
        credentials = grpc.ssl_channel_credentials(sidecar.pki.ca.read_bytes())
        channel = grpc.secure_channel(target, credentials, options=options)
        metadata = (("authorization", f"Bearer {TOKEN}"),)
    with channel:
        export = channel.unary_unary(TRACE_EXPORT)
        lock = threading.Lock()
        state = {"next": 0}

        def worker() -> None:
            while True:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= count:
                    return
                while True:
                    try:
                        export(requests[i % len(requests)], timeout=60, metadata=metadata)
                        break
                    except grpc.RpcError as exc:
                        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            raise
                        time.sleep(0.02)

        with futures.ThreadPoolExecutor(IN_FLIGHT) as pool:
            for f in [pool.submit(worker) for _ in range(IN_FLIGHT)]:
                f.result()


def run(sidecar: Sidecar, sink: Sink, requests: list[bytes], count: int) -> tuple[float, dict[str, float]]:
    """(spans/s, CPU µs per span of the sidecar, the client and the sink) for `count` requests."""
    target = sink.bytes() + sum(len(requests[i % len(requests)]) for i in range(count))
    procs = {"sidecar": sidecar.proc.pid, "client": os.getpid(), "sink": sink._proc.pid}
    cpu0 = {name: cpu_seconds(pid) for name, pid in procs.items()}
    t0 = time.perf_counter()
    send(sidecar, requests, count)
    deadline = time.monotonic() + 300
    while sink.bytes() < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"sink got {sink.bytes()} of {target} bytes; see {sidecar.log.name}")
        time.sleep(0.002)
    spans = count * SPANS_PER_REQUEST
    rate = spans / (time.perf_counter() - t0)
    return rate, {name: (cpu_seconds(pid) - cpu0[name]) / spans * 1e6 for name, pid in procs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="requests per run (512 spans each)")
    args = parser.parse_args()
    requests = make_requests(32)
    with tempfile.TemporaryDirectory(prefix="otelml-bench-tls-") as tmp:
        workdir = Path(tmp)
        pki = make_pki(workdir / "pki")
        plain_sink = Sink(None)
        tls_sink = Sink((str(pki.server_cert), str(pki.server_key)))
        results: dict[str, list[float]] = {}
        cpu: dict[str, dict[str, list[float]]] = {}
        sidecars: dict[str, tuple[Sidecar, Sink]] = {}
        try:
            for pipeline, processors in (("forward", []), ("extract", ["ml_extract"])):
                for mode in ("plain", "tls"):
                    name = f"{pipeline}/{mode}"
                    sink = tls_sink if mode == "tls" else plain_sink
                    sidecar = Sidecar(
                        name.replace("/", "-"), sink, processors, pki if mode == "tls" else None, workdir
                    )
                    sidecars[name] = (sidecar, sink)
                    run(sidecar, sink, requests, 20)  # warm-up: connections, caches
            for i in range(args.runs):
                for name, (sidecar, sink) in sidecars.items():
                    rate, used = run(sidecar, sink, requests, args.requests)
                    results.setdefault(name, []).append(rate)
                    for proc, value in used.items():
                        cpu.setdefault(name, {}).setdefault(proc, []).append(value)
                print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
        finally:
            for sidecar, _ in sidecars.values():
                sidecar.close()
            plain_sink.close()
            tls_sink.close()
    print("| pipeline | receiver + exporter | spans/s median | min | max | cost vs plain |")
    print("|---|---|---:|---:|---:|---:|")
    summary: dict[str, Any] = {}
    for name, values in results.items():
        pipeline, mode = name.split("/")
        median = statistics.median(values)
        base = statistics.median(results[f"{pipeline}/plain"])
        ratios = [
            t / p for t, p in zip(results[f"{pipeline}/tls"], results[f"{pipeline}/plain"], strict=True)
        ]
        cost = "" if mode == "plain" else f"{(1 - statistics.median(ratios)) * 100:.1f} %"
        label = "plaintext" if mode == "plain" else "TLS + bearer token"
        print(f"| {pipeline} | {label} | {median:,.0f} | {min(values):,.0f} | {max(values):,.0f} | {cost} |")
        summary[name] = {"median": median, "runs": values, "ratio_to_plain": median / base, "cpu": cpu[name]}
    print("\n| pipeline | receiver + exporter | sidecar CPU µs/span | sidecar TLS cost | client | sink |")
    print("|---|---|---:|---:|---:|---:|")
    for name in results:
        pipeline, mode = name.split("/")
        med = {proc: statistics.median(v) for proc, v in cpu[name].items()}
        plain = statistics.median(cpu[f"{pipeline}/plain"]["sidecar"])
        cost = "" if mode == "plain" else f"+{(med['sidecar'] / plain - 1) * 100:.0f} %"
        label = "plaintext" if mode == "plain" else "TLS + bearer token"
        print(
            f"| {pipeline} | {label} | {med['sidecar']:.2f} | {cost} | {med['client']:.2f} | "
            f"{med['sink']:.2f} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{args.runs} runs x {args.requests} requests, {os.cpu_count()} CPUs, load average {load}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
