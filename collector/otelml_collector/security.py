"""TLS and authentication settings shared by the sidecar's servers (shapes of the Collector's
`configtls` / `configauth`), and what turns them into `ssl` / grpc credentials.

Server side (`receivers.otlp.protocols.{grpc,http}.tls`, `service.http.tls`): `cert_file` +
`key_file` serve TLS; `client_ca_file` adds mTLS (a client certificate signed by that CA is
required). `auth: {authenticator: <extension>}` names an authenticator extension (e.g.
`bearertokenauth`) listed in `service.extensions`.

Every file is read when the config is validated, so a wrong path or a file that is not a PEM
certificate/key fails `--validate` and start-up with the key and the file named.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AuthConfig",
    "ServerTlsConfig",
    "check_client_files",
    "grpc_client_credentials",
    "grpc_server_credentials",
    "read_file",
    "server_ssl_context",
]


@dataclass
class ServerTlsConfig:
    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""  # set: require client certificates signed by this CA (mTLS)

    def validate(self, key: str) -> None:
        """Check the files now (ValueError naming `key`.<field> and the file)."""
        if not self.cert_file or not self.key_file:
            missing = "cert_file" if not self.cert_file else "key_file"
            raise ValueError(f"{key}.{missing}: required when {key} is set (a PEM file)")
        server_ssl_context(self, key)


@dataclass
class AuthConfig:
    authenticator: str = ""

    def validate(self, key: str) -> None:
        if not self.authenticator:
            raise ValueError(f"{key}.authenticator: name an extension listed in service.extensions")


def read_file(path: str, key: str) -> bytes:
    """The bytes of `path`; ValueError naming the key and the file when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise ValueError(f"{key}: {path} is empty")
    return data


def server_ssl_context(tls: ServerTlsConfig, key: str) -> ssl.SSLContext:
    """An `ssl.SSLContext` for an aiohttp server (TLS 1.2+; client certificates required with a CA)."""
    read_file(tls.cert_file, f"{key}.cert_file")
    read_file(tls.key_file, f"{key}.key_file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except ssl.SSLError as exc:
        raise ValueError(
            f"{key}.cert_file/key_file: {tls.cert_file} and {tls.key_file} are not a matching PEM "
            f"certificate and private key ({exc.reason or exc})"
        ) from None
    if tls.client_ca_file:
        read_file(tls.client_ca_file, f"{key}.client_ca_file")
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as exc:
            raise ValueError(
                f"{key}.client_ca_file: {tls.client_ca_file} is not a PEM CA certificate "
                f"({exc.reason or exc})"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def grpc_server_credentials(tls: ServerTlsConfig, key: str) -> Any:
    """`grpc.ssl_server_credentials` for `tls` (checked with `server_ssl_context` first)."""
    import grpc

    server_ssl_context(tls, key)
    ca = read_file(tls.client_ca_file, f"{key}.client_ca_file") if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(read_file(tls.key_file, f"{key}.key_file"), read_file(tls.cert_file, f"{key}.cert_file"))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def check_client_files(files: Mapping[str, str | None]) -> None:
    """Client-side PEM files by the key (or variable) that set them: each must be readable PEM."""
    for key, path in files.items():
        if path and b"-----BEGIN" not in read_file(path, key):
            raise ValueError(f"{key}: {path} is not a PEM file (no -----BEGIN line)")


def grpc_client_credentials(ca_file: str | None, cert_file: str | None, key_file: str | None) -> Any:
    """`grpc.ssl_channel_credentials` trusting `ca_file` (else the system CAs), presenting the client
    certificate when both `cert_file` and `key_file` are set."""
    import grpc

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    client = cert_file and key_file
    return grpc.ssl_channel_credentials(
        root_certificates=read(ca_file),
        private_key=read(key_file) if client else None,
        certificate_chain=read(cert_file) if client else None,
    )
