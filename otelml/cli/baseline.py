"""``otelml baseline build``: profile a training/reference table into a baseline file.

The file (docs/baseline-format.md) is what the sidecar's drift processor (``processors.drift.baseline.path``)
and ``otelml validate --baseline`` compare new data with. Exit codes: 0 written, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from otelml.stats import DEFAULT_BINS, DEFAULT_TOP_K, BaselineError, build_baseline
from otelml.tabular import TableFileError, read_table

__all__ = ["register"]

def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_performance(args: argparse.Namespace, table: Any) -> None:
    """Add the reference performance and score calibration (`--score`, `--target`) to the written file."""
    from otelml.stats.performance import reference_section

    if not args.target:
        raise BaselineError("--score needs --target (the ground truth the reference is measured on)")
    roles = (("--score", args.score), ("--target", args.target), ("--prediction", args.prediction))
    for role, column in roles:
        if column is not None and column not in table:
            raise BaselineError(f"{args.data}: column {column!r} given to {role} is not in the data")
    try:
        section = reference_section(
            table[args.target], table[args.score], table[args.prediction] if args.prediction else None
        )
    except ValueError as exc:
        raise BaselineError(f"{args.data}: --score {args.score!r}: {exc}") from None
    data = json.loads(Path(args.out).read_text(encoding="utf-8"))
    data["performance"] = {"score": args.score, **section}
    Path(args.out).write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _build(args: argparse.Namespace) -> int:
    try:
        if args.bins < 2:
            raise BaselineError(f"--bins must be at least 2, got {args.bins}")
        table, touched = _apply_capture_policy(read_table(args.data, delimiter=args.delimiter), args)
        baseline = build_baseline(
            table,
            model=args.model,
            version=args.version,
            exclude=args.exclude or (),
            prediction=args.prediction,
            target=args.target,
            bins=args.bins,
            top_k=args.top_k,
            source=str(args.data),
            segments=args.segment or (),
        )
    except (TableFileError, BaselineError) as exc:
        print(f"otelml baseline build: error: {exc}", file=sys.stderr)
        return 2
    try:
        baseline.save(args.out)
        if args.score:
            _add_performance(args, table)
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"otelml baseline build: error: {args.out}: cannot write: {reason}", file=sys.stderr)
        return 2
    except BaselineError as exc:
        print(f"otelml baseline build: error: {exc}", file=sys.stderr)
        return 2
    kinds = [p.kind for p in baseline.features.values()]
    marked = [f"{role} {p.column!r}" for role, p in (("prediction", baseline.prediction),
                                                      ("target", baseline.target)) if p is not None]
    print(
        f"wrote {args.out}: model {baseline.model!r} version {baseline.version or '-'}, "
        f"{baseline.row_count} rows, {len(kinds)} features "
        f"({kinds.count('numeric')} numeric, {kinds.count('categorical')} categorical)"
        + (f", {', '.join(marked)}" if marked else "")
        + "".join(f", segment {k!r}: {len(v)} values" for k, v in baseline.segments.items())
    )
    if touched:
        print("capture policy (OTELML_*_FEATURES): " + ", ".join(f"{c} {how}" for c, how in touched.items()))
    return 0


def _apply_capture_policy(table: Any, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """Mask feature columns as the library masks them on spans: a baseline never holds what spans don't."""
    from otelml._capture import mask_columns
    from otelml._config import get_config

    untouched = {args.prediction, args.target, *(args.exclude or ()), *(args.segment or ())}
    features = {str(c): table[c] for c in table.columns if str(c) not in untouched}
    kept, touched = mask_columns(features, get_config())
    data = {str(c): kept[str(c)] if str(c) in kept else table[c] for c in table.columns
            if str(c) in kept or str(c) not in features}
    return data, touched


def register(subparsers: Any) -> None:
    """Add ``otelml baseline build`` to the ``otelml`` parser."""
    parser = subparsers.add_parser("baseline", help="build baseline files for drift and validation")
    commands = parser.add_subparsers(dest="baseline_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda _args: (parser.print_help(sys.stderr), 2)[1])
    build = commands.add_parser(
        "build",
        help="profile a CSV, TSV or Parquet table into a baseline JSON file",
        description="Profile every column of DATA (.csv, .tsv, .parquet by name, or --delimiter): numeric "
        "columns get quantile bins, others their top-K categories. Feature names are normalised as on "
        "spans (ml.feature.<name>).",
    )
    build.add_argument("data", metavar="DATA", help="CSV, TSV or Parquet file")
    build.add_argument("--delimiter", metavar="CHAR",
                       help="field delimiter of a text file (default by name: .csv comma, .tsv tab)")
    build.add_argument("--model", required=True, help="model name (ml.model.name)")
    build.add_argument("--version", help="model version (ml.model.version)")
    build.add_argument("--exclude", nargs="+", action="extend", metavar="COL", help="columns to leave out")
    build.add_argument("--prediction", metavar="COL", help="column holding the model's prediction")
    build.add_argument("--target", metavar="COL", help="column holding the ground truth")
    build.add_argument("--segment", nargs="+", action="extend", metavar="COL",
                       help="cohort column (ml.segment.<COL>): not a feature; its values' rows are "
                       "profiled again, as the per-segment drift baselines")
    build.add_argument("--score", metavar="COL", help="column holding the model's probability of class 1: "
                       "stores the reference performance and the score calibration (needs --target)")
    build.add_argument("--bins", type=_positive, default=DEFAULT_BINS,
                       help=f"quantile bins per numeric column (default {DEFAULT_BINS})")
    build.add_argument("--top-k", type=_positive, default=DEFAULT_TOP_K,
                       help=f"categories kept per categorical column (default {DEFAULT_TOP_K})")
    build.add_argument("--out", required=True, metavar="FILE", help="baseline file to write")
    build.set_defaults(func=_build)
