"""Sidecar ingest by OTLP transport: the same spans in over gRPC, HTTP/protobuf, HTTP/protobuf+gzip
and HTTP/JSON, through the real sidecar (forward-only) to a local gRPC sink.

    .venv/bin/python benchmarks/bench_ingest.py [--runs 5] [--requests 120]

Requests (512 spans x 10 attributes each) are encoded once before timing in every format. Per run and
transport, `--requests` requests are sent with 8 in flight; the run ends when the sidecar reports
all their spans forwarded (`/v1/status`). Transports alternate within each run; reported: median
spans/s over the runs, the ratio to gRPC in the same run (median of per-run ratios), and sidecar CPU
(user+sys) per span. Client, sidecar and sink share the machine's cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent import futures
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "collector"), str(ROOT)]
SPANS = 512
IN_FLIGHT = 8
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TRANSPORTS = ("grpc", "http-protobuf", "http-protobuf-gzip", "http-json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_requests(count: int) -> list[bytes]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    out = []
    for r in range(count):
        req = ExportTraceServiceRequest()
        scope = req.resource_spans.add().scope_spans.add()
        for i in range(SPANS):
            span = scope.spans.add(
                name="inference credit",
                trace_id=(r * SPANS + i + 1).to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                start_time_unix_nano=1,
                end_time_unix_nano=2,
            )
            attrs = [
                ("ml.operation.name", AnyValue(string_value="inference")),
                ("ml.model.name", AnyValue(string_value="credit")),
            ]
            attrs += [(f"ml.feature.f{j}", AnyValue(double_value=(i * 7 + j) % 13 / 3)) for j in range(8)]
            span.attributes.extend(KeyValue(key=k, value=v) for k, v in attrs)
        out.append(req.SerializeToString())
    return out


def sink(port: int, ready: mp.Event) -> None:  # type: ignore[valid-type]
    import grpc

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(lambda raw, ctx: b"")},
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(4),
        handlers=[handler],
        options=[("grpc.max_receive_message_length", 64 << 20)],
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    server.wait_for_termination()


def status(api: str) -> dict:
    with urllib.request.urlopen(api + "/v1/status", timeout=10) as resp:
        return json.loads(resp.read())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=120)
    args = parser.parse_args()

    import grpc
    import requests
    import yaml
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from otelml_collector.otlp import to_json

    protobuf = make_requests(args.requests)
    bodies = {
        "grpc": protobuf,
        "http-protobuf": protobuf,
        "http-protobuf-gzip": [gzip.compress(b, 6) for b in protobuf],
        "http-json": [to_json(ExportTraceServiceRequest.FromString(b)) for b in protobuf],
    }
    sink_port, grpc_port, http_port, api_port = free_port(), free_port(), free_port(), free_port()
    ready = mp.Event()
    sink_proc = mp.Process(target=sink, args=(sink_port, ready), daemon=True)
    sink_proc.start()
    ready.wait(30)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    config = {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                    "http": {"endpoint": f"127.0.0.1:{http_port}", "max_concurrent_requests": IN_FLIGHT},
                }
            }
        },
        "exporters": {
            "otlp": {
                "endpoint": f"http://127.0.0.1:{sink_port}",
                "protocol": "grpc",
                "sending_queue": {"queue_size": 64},
            }
        },
        "service": {
            "http": {"endpoint": f"127.0.0.1:{api_port}"},
            "telemetry": {"metrics": {"enabled": False}, "logs": {"enabled": False}},
        },
        "state": {"path": str(tmp / "state")},
    }
    (tmp / "sidecar.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "collector"), str(ROOT)])}
    sidecar = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otelml_collector",
            "--config",
            str(tmp / "sidecar.yaml"),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    api = f"http://127.0.0.1:{api_port}"
    for _ in range(300):
        try:
            if status(api)["healthy"]:
                break
        except OSError:
            time.sleep(0.1)
    channel = grpc.insecure_channel(
        f"127.0.0.1:{grpc_port}", options=[("grpc.max_send_message_length", 64 << 20)]
    )
    export = channel.unary_unary(TRACE_EXPORT)
    sessions = [requests.Session() for _ in range(IN_FLIGHT)]

    def send(transport: str, i: int) -> None:
        body = bodies[transport][i]
        if transport == "grpc":
            while True:
                try:
                    export(body, timeout=30)
                    return
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    time.sleep(0.05)
        headers = {
            "Content-Type": "application/json" if transport == "http-json" else "application/x-protobuf"
        }
        if transport.endswith("gzip"):
            headers["Content-Encoding"] = "gzip"
        while True:
            resp = sessions[i % IN_FLIGHT].post(
                f"http://127.0.0.1:{http_port}/v1/traces", data=body, headers=headers, timeout=30
            )
            if resp.status_code != 503:
                resp.raise_for_status()
                return
            time.sleep(0.05)

    results: dict[str, list[tuple[float, float]]] = {t: [] for t in TRANSPORTS}
    pool = futures.ThreadPoolExecutor(IN_FLIGHT)
    try:
        for _ in range(args.runs):
            for transport in TRANSPORTS:
                before = status(api)["counters"]["spans"]["forwarded"]
                cpu0, t0 = cpu_seconds(sidecar.pid), time.perf_counter()
                list(pool.map(lambda i, t=transport: send(t, i), range(args.requests)))
                target = before + args.requests * SPANS
                while status(api)["counters"]["spans"]["forwarded"] < target:
                    time.sleep(0.005)
                wall, cpu = time.perf_counter() - t0, cpu_seconds(sidecar.pid) - cpu0
                results[transport].append((args.requests * SPANS / wall, cpu / (args.requests * SPANS) * 1e6))
    finally:
        sidecar.terminate()
        sidecar.wait(30)
        sink_proc.terminate()
    print(
        f"\n{args.runs} runs x {args.requests} requests x {SPANS} spans, {IN_FLIGHT} in flight, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end\n"
    )
    print(
        "| transport in (forwarded over gRPC) | spans/s median | min | max | vs gRPC (median of runs) "
        "| sidecar CPU µs/span |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for transport in TRANSPORTS:
        rates = [r for r, _ in results[transport]]
        ratios = [r / g for (r, _), (g, _) in zip(results[transport], results["grpc"], strict=True)]
        cpu = statistics.median(c for _, c in results[transport])
        print(
            f"| {transport} | {statistics.median(rates):,.0f} | {min(rates):,.0f} | {max(rates):,.0f} "
            f"| {statistics.median(ratios):.2f} | {cpu:.1f} |"
        )
    print(json.dumps({t: results[t] for t in TRANSPORTS}))


if __name__ == "__main__":
    main()
