"""The `otelml` command line: `otelml <command> ...`.

Each command lives in its own module under `otelml.cli` exposing `register(subparsers)`, which adds
its parser and sets `func(args) -> int` as the parser default. Exit codes: 0 success, 1 a check
failed (e.g. an expectation), 2 usage or input error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# (module under otelml.cli) in the order shown by --help
_COMMAND_MODULES = (
    "baseline", "validate", "audit", "drift", "trace", "predictions", "performance", "diagnose", "canary",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otelml", description="OpenTelemetry-native ML observability tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"otelml.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("otelml.cli"):
                continue  # command not built into this installation
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
