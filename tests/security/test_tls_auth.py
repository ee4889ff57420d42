"""TLS and bearer-token authentication on a real sidecar, with the OTel SDK's own OTLP exporters as
clients and a real OTLP receiver (oteltap) downstream.

The PKI (CA, server and client certificates) is made per module with `cryptography`."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from tests.support.certs import Pki, make_pki
from tests.support.net import free_port, wait_until
from tests.support.sidecar import REPO, sidecar_config

TOKEN = "s3cr3t-0f-the-t3st-6f1c0a"  # passed via ${env:OTELML_TOKEN}: must never show in logs/output


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def secured_config(
    tmp_path: Path, pki: Pki, downstream: str, *, mtls: bool = False, predictions: bool = False
) -> dict[str, Any]:
    """Receivers and API with TLS (receivers with mTLS with `mtls`) and the bearer token from
    $OTELML_TOKEN."""
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    auth = {"authenticator": "bearertokenauth"}
    config = sidecar_config(tmp_path, downstream, processors={"predictions": {}} if predictions else None)
    for proto in config["receivers"]["otlp"]["protocols"].values():
        proto.update(tls={**tls, "client_ca_file": str(pki.ca)} if mtls else dict(tls), auth=dict(auth))
    config["service"]["http"].update(tls=dict(tls), auth=dict(auth))
    config["service"]["extensions"] = ["bearertokenauth"]
    config["extensions"] = {"bearertokenauth": {"token": "${env:OTELML_TOKEN}"}}
    return config


def start_secured(sidecar: Any, config: dict[str, Any], pki: Pki, env: dict[str, str] | None = None) -> Any:
    return sidecar(config, {"OTELML_TOKEN": TOKEN, **(env or {})}, token=TOKEN, cacert=pki.ca)


def send_spans(exporter: Any, names: list[str]) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "tls-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tls-test")
    for name in names:
        with tracer.start_as_current_span(name):
            pass
    provider.shutdown()


class Recorder:
    """Wraps an SDK exporter to keep the results of its export calls."""

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter
        self.results: list[SpanExportResult] = []

    def export(self, spans: Any) -> SpanExportResult:
        result = self.exporter.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def sdk_exporter(protocol: str, proc: Any, pki: Pki, token: str | None, client_cert: bool = False) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if protocol == "grpc":
        ca = pki.ca.read_bytes()
        key = pki.client_key.read_bytes() if client_cert else None
        chain = pki.client_cert.read_bytes() if client_cert else None
        credentials = grpc.ssl_channel_credentials(ca, key, chain)
        return GrpcSpanExporter(
            endpoint=f"https://{proc.grpc_endpoint}", credentials=credentials, headers=headers, timeout=5
        )
    return HttpSpanExporter(
        endpoint=f"https://{proc.http_endpoint}/v1/traces",
        certificate_file=str(pki.ca),
        client_certificate_file=str(pki.client_cert) if client_cert else None,
        client_key_file=str(pki.client_key) if client_cert else None,
        headers=headers,
        timeout=5,
        session=untrusting_session(),
    )


def untrusting_session() -> requests.Session:
    """The SDK's session ignores its certificate_file when $REQUESTS_CA_BUNDLE is set
    (psf/requests#3829; CI sets it): a session that does not read the environment."""
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_exporter_with_ca_and_token_gets_through_and_without_token_is_refused(
    protocol, sidecar, otlp_sink, pki, tmp_path
):
    proc = start_secured(sidecar, secured_config(tmp_path, pki, otlp_sink.endpoint), pki)

    denied = Recorder(sdk_exporter(protocol, proc, pki, token=None))
    send_spans(denied, ["no-token"])
    wrong = Recorder(sdk_exporter(protocol, proc, pki, token="not-the-token"))
    send_spans(wrong, ["wrong-token"])
    allowed = Recorder(sdk_exporter(protocol, proc, pki, token=TOKEN))
    send_spans(allowed, ["authorised-1", "authorised-2"])

    assert denied.results == [SpanExportResult.FAILURE] and wrong.results == [SpanExportResult.FAILURE]
    assert allowed.results == [SpanExportResult.SUCCESS] * 2
    otlp_sink.wait_spans(2)
    wait_until(lambda: proc.counters()["spans"]["forwarded"] == 2, 10, what="2 spans forwarded")
    assert sorted(otlp_sink.span_names()) == ["authorised-1", "authorised-2"]  # nothing else forwarded
    assert proc.counters()["spans"]["received"] == 2
    refused = proc.status()["counters"]
    assert "unauthenticated" in proc.get("/metrics")[1], refused


def test_raw_answers_are_401_and_unauthenticated(sidecar, otlp_sink, pki, tmp_path):
    proc = start_secured(sidecar, secured_config(tmp_path, pki, otlp_sink.endpoint), pki)
    resp = requests.post(
        f"https://{proc.http_endpoint}/v1/traces",
        data=b"",
        headers={"Content-Type": "application/x-protobuf", "Authorization": "Bearer nope"},
        verify=str(pki.ca),
        timeout=5,
    )
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    creds = grpc.ssl_channel_credentials(pki.ca.read_bytes())
    with grpc.secure_channel(proc.grpc_endpoint, creds) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=5, metadata=(("authorization", f"Basic {TOKEN}"),))  # right token, wrong scheme
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Plain HTTP to a TLS port gets no OTLP answer at all.
    with pytest.raises(requests.RequestException):
        requests.post(f"http://{proc.http_endpoint}/v1/traces", data=b"", timeout=5)
    assert TOKEN not in proc.log()


def test_api_prediction_store_and_ui_need_the_token(sidecar, otlp_sink, pki, tmp_path):
    proc = start_secured(sidecar, secured_config(tmp_path, pki, otlp_sink.endpoint, predictions=True), pki)
    context = ssl.create_default_context(cafile=str(pki.ca))

    def get(path: str, token: str | None) -> int:
        request = urllib.request.Request(proc.api + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    for path in ("/v1/predictions", "/ui/", "/ui/predictions", "/v1/status", "/metrics", "/healthz"):
        assert get(path, None) == 401, path
        assert get(path, "wrong") == 401, path
    assert get("/v1/predictions", TOKEN) == 200
    assert get("/v1/status", TOKEN) == 200
    status = proc.status()
    assert TOKEN not in repr(status)


def test_mtls_refuses_clients_without_a_certificate(sidecar, otlp_sink, pki, tmp_path):
    proc = start_secured(sidecar, secured_config(tmp_path, pki, otlp_sink.endpoint, mtls=True), pki)
    no_cert = Recorder(sdk_exporter("grpc", proc, pki, token=TOKEN))
    send_spans(no_cert, ["no-client-cert"])
    with pytest.raises(requests.exceptions.ConnectionError):  # TLS 1.3: hung up after the handshake
        requests.post(
            f"https://{proc.http_endpoint}/v1/traces",
            data=b"",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-protobuf"},
            verify=str(pki.ca),
            timeout=5,
        )
    for protocol in ("grpc", "http"):
        with_cert = Recorder(sdk_exporter(protocol, proc, pki, token=TOKEN, client_cert=True))
        send_spans(with_cert, [f"with-client-cert-{protocol}"])
        assert with_cert.results == [SpanExportResult.SUCCESS]
    assert no_cert.results == [SpanExportResult.FAILURE]
    otlp_sink.wait_spans(2)
    assert sorted(otlp_sink.span_names()) == ["with-client-cert-grpc", "with-client-cert-http"]


def test_client_trusting_another_ca_cannot_connect(sidecar, otlp_sink, pki, tmp_path):
    proc = start_secured(sidecar, secured_config(tmp_path, pki, otlp_sink.endpoint), pki)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(proc.api + "/healthz", verify=str(pki.other_ca), timeout=5)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_exporter_tls_and_settings_from_otel_environment_variables(
    protocol, sidecar, otlp_sink, pki, tmp_path
):
    """Sidecar A forwards to sidecar B, which requires mTLS and the token; A's TLS files, header,
    compression and timeout come only from OTEL_EXPORTER_OTLP_* variables. A's own metrics take the
    same way."""
    config_b = secured_config(tmp_path / "b", pki, otlp_sink.endpoint, mtls=True)
    config_b["service"]["telemetry"]["metrics"]["enabled"] = False  # metrics at the sink are A's
    downstream = start_secured(sidecar, config_b, pki)
    endpoint = downstream.grpc_endpoint if protocol == "grpc" else downstream.http_endpoint
    config = sidecar_config(tmp_path / "a", None, protocol=protocol)
    config["exporters"]["otlp"].pop("tls", None)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{endpoint}",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.ca),
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(pki.client_cert),
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(pki.client_key),
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{TOKEN}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "5000",
    }
    upstream = sidecar(config, env)
    exporter = HttpSpanExporter(endpoint=f"{upstream.http_url}/v1/traces", timeout=5)
    send_spans(exporter, ["through-two-sidecars"])
    otlp_sink.wait_spans(1)
    assert otlp_sink.span_names() == ["through-two-sidecars"]
    assert downstream.counters()["spans"]["received"] == 1
    # A's self-telemetry (MeterProvider) goes through the same TLS and token to B and on to the sink.
    wait_until(
        lambda: any(m.name == "otelml_collector.spans.received" for m in list(otlp_sink.metrics)),
        15,
        what="the upstream sidecar's own metrics at the sink",
    )
    assert TOKEN not in upstream.log() and TOKEN not in downstream.log()


def validate(config_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-m", "otelml_collector", "--validate", "--config", str(config_path)],
        env={**clean, "PYTHONPATH": f"{REPO / 'collector'}{os.pathsep}{REPO}", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_validate_prints_no_token_and_names_bad_certificate_files(pki, tmp_path):
    config = secured_config(tmp_path, pki, f"http://127.0.0.1:{free_port()}")
    ok = validate(write(tmp_path, config), {"OTELML_TOKEN": TOKEN})
    assert ok.returncode == 0, ok.stderr
    assert "extensions: bearertokenauth" in ok.stdout and TOKEN not in ok.stdout + ok.stderr

    missing = tmp_path / "nope" / "server.pem"
    config["receivers"]["otlp"]["protocols"]["grpc"]["tls"]["cert_file"] = str(missing)
    bad = validate(write(tmp_path, config), {"OTELML_TOKEN": TOKEN})
    assert bad.returncode == 2
    assert "receivers.otlp.protocols.grpc.tls.cert_file" in bad.stderr and str(missing) in bad.stderr

    config = secured_config(tmp_path, pki, f"http://127.0.0.1:{free_port()}")
    config["service"]["http"]["tls"]["key_file"] = str(pki.client_key)  # not the server cert's key
    mismatch = validate(write(tmp_path, config), {"OTELML_TOKEN": TOKEN})
    assert mismatch.returncode == 2 and "service.http.tls" in mismatch.stderr

    config = secured_config(tmp_path, pki, f"https://127.0.0.1:{free_port()}")
    env_bad = validate(
        write(tmp_path, config), {"OTELML_TOKEN": TOKEN, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(missing)}
    )
    assert env_bad.returncode == 2
    assert "OTEL_EXPORTER_OTLP_CERTIFICATE" in env_bad.stderr and str(missing) in env_bad.stderr

    config["exporters"]["otlp"]["tls"] = {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert)}
    half = validate(write(tmp_path, config), {"OTELML_TOKEN": TOKEN})
    assert half.returncode == 2 and "key_file" in half.stderr

    unset = validate(write(tmp_path, secured_config(tmp_path, pki, "http://127.0.0.1:1")))
    assert unset.returncode == 2 and "OTELML_TOKEN is not set" in unset.stderr

    config = secured_config(tmp_path, pki, "http://127.0.0.1:1")
    config["service"]["extensions"] = []
    unlisted = validate(write(tmp_path, config), {"OTELML_TOKEN": TOKEN})
    assert unlisted.returncode == 2 and "not an extension listed in service.extensions" in unlisted.stderr


def test_cli_reads_a_tls_sidecar_with_the_token(sidecar, otlp_sink, pki, tmp_path):
    proc = start_secured(sidecar, secured_config(tmp_path, pki, otlp_sink.endpoint, predictions=True), pki)
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTELML_SIDECAR")}
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "otelml.cli", "predictions", "--url", proc.api],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    ok = run({"OTELML_SIDECAR_TOKEN": TOKEN, "OTELML_SIDECAR_CA": str(pki.ca)})
    assert ok.returncode == 1 and "no stored prediction matches" in ok.stderr, ok.stderr  # read, empty store
    no_token = run({"OTELML_SIDECAR_CA": str(pki.ca)})
    assert no_token.returncode == 2 and "requires a bearer token" in no_token.stderr
    untrusted = run({"OTELML_SIDECAR_TOKEN": TOKEN, "OTELML_SIDECAR_CA": str(pki.other_ca)})
    assert untrusted.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
