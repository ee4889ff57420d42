"""`otelml-collector`: run the otelml sidecar (or `--validate` a config and exit).

Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or a valid config with --validate; 2 for a
config or usage error (the message names the file and key); 1 when the sidecar cannot start
(e.g. a port is in use) or a second signal cut the drain short.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal as signals
import sys
import threading

from otelml_collector import __version__
from otelml_collector.config import DEFAULT_CONFIG_YAML, ConfigError, SidecarConfig, load_config
from otelml_collector.deps import INSTALL_HINT, missing_packages

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otelml-collector",
        description="otelml sidecar: receives OTLP (gRPC and HTTP), forwards it to your OTLP backend, and "
        "computes drift / data-quality signals from inference spans. See docs/configuration.md.",
    )
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="YAML config shaped like the OTel Collector's (default: the embedded config, "
        "downstream from OTEL_EXPORTER_OTLP_* variables)",
    )
    parser.add_argument("--validate", action="store_true", help="check the config, print a summary and exit")
    parser.add_argument(
        "--print-default-config", action="store_true", help="print the embedded config and exit"
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="overrides service.telemetry.logs.level",
    )
    parser.add_argument("--version", action="version", version=f"otelml-collector {__version__}")
    return parser


def _summary(config: SidecarConfig) -> str:
    lines = [f"{config.source}: valid"]
    lines += [f"  note: {note}" for note in config.notes]
    for signal, wiring in config.pipelines.items():
        lines.append(
            f"  pipeline {signal}: receivers={wiring.receivers} processors={wiring.processors} "
            f"exporters={wiring.exporters}"
        )
    for name, spec in config.exporters.items():
        targets = getattr(spec.config, "targets", None)
        if targets is not None:
            for signal, target in targets().items():
                where = target.endpoint if target.explicit else f"{target.endpoint} (default; not configured)"
                lines.append(f"  exporter {name} {signal}: {target.protocol} -> {where}")
    if config.extensions:  # names only: settings may hold secrets (bearertokenauth's token)
        lines.append(f"  extensions: {', '.join(config.extensions)}")
    lines.append(f"  state.path: {config.state.path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.print_default_config:
        sys.stdout.write(DEFAULT_CONFIG_YAML)
        return 0
    missing = missing_packages()
    if missing:
        print(
            f"otelml-collector: missing Python package(s) {', '.join(missing)}; install the sidecar's "
            f"dependencies with: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"otelml-collector: config error: {exc}", file=sys.stderr)
        return 2
    if args.validate:
        print(_summary(config))
        return 0
    level = (args.log_level or config.service.telemetry.logs.level).upper()
    logging.basicConfig(
        level="WARNING" if level == "WARN" else level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from otelml_collector.logfilter import RateLimitFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(RateLimitFilter())

    from otelml_collector.service import Sidecar

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        if received:  # a second signal while draining: stop waiting
            print("otelml-collector: second signal, exiting without finishing the drain", file=sys.stderr)
            os._exit(1)
        received.append(signum)
        stop.set()

    signals.signal(signals.SIGTERM, on_signal)
    signals.signal(signals.SIGINT, on_signal)
    try:
        sidecar = Sidecar(config)
    except (ValueError, OSError) as exc:
        print(f"otelml-collector: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        sidecar.start()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"otelml-collector: cannot start: {exc}", file=sys.stderr)
        sidecar.shutdown()
        return 1
    while not stop.wait(0.5):
        pass
    logging.getLogger("otelml_collector").info("signal %s: shutting down", received[0] if received else "?")
    sidecar.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
