"""Generate otelml's semantic-convention constants and docs from ``registry.yaml``.

``python -m otelml.semconv.generate`` writes ``otelml/semconv/_attributes.py`` and ``docs/semconv.md``;
``--check`` exits 1 (naming the stale file) instead of writing when either differs from the registry.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
REGISTRY_PATH = PACKAGE_DIR / "registry.yaml"
PYTHON_PATH = PACKAGE_DIR / "_attributes.py"
DOCS_PATH = PACKAGE_DIR.parent.parent / "docs" / "semconv.md"

_REQUIRED = {
    "operations": ("name", "span_name", "brief"),
    "attributes": ("id", "type", "applies_to", "brief"),
    "metrics": ("name", "instrument", "unit", "brief"),
}


class RegistryError(ValueError):
    """The registry file is malformed; the message names the file, section and entry."""


def load_registry(path: Path = REGISTRY_PATH) -> dict[str, Any]:
    """Read and validate the registry, raising :class:`RegistryError` naming the bad entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"{path}: cannot read the semconv registry: {exc}") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: the registry must be a mapping with {sorted(_REQUIRED)} sections")
    for section, keys in _REQUIRED.items():
        entries = data.get(section)
        if not isinstance(entries, list) or not entries:
            raise RegistryError(f"{path}: section '{section}' must be a non-empty list")
        for i, entry in enumerate(entries):
            missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
            if missing:
                raise RegistryError(f"{path}: {section}[{i}] lacks key(s) {', '.join(missing)}")
    for i, event in enumerate(data.get("events") or []):
        if not isinstance(event, dict) or "name" not in event or "brief" not in event:
            raise RegistryError(f"{path}: events[{i}] lacks key(s) name, brief")
    if not isinstance(data.get("feature_name_normalisation"), str):
        raise RegistryError(f"{path}: 'feature_name_normalisation' must be a string")
    return data


def _const(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).upper()


def _wrap(text: str, width: int = 100) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def _constants(reg: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(constant name, value, doc) for every generated constant, in a stable order."""
    out: list[tuple[str, str, str]] = []
    for op in reg["operations"]:
        out.append((f"OPERATION_{_const(op['name'])}", op["name"], f"ml.operation.name of: {op['brief']}"))
        out.append((f"SPAN_NAME_{_const(op['name'])}", op["span_name"], "Span-name format (str.format)."))
    for attr in reg["attributes"]:
        if attr.get("template"):
            out.append((f"{_const(attr['id'])}_PREFIX", attr["id"] + ".", attr["brief"]))
        else:
            out.append((_const(attr["id"]), attr["id"], attr["brief"]))
    for metric in reg["metrics"]:
        out.append((f"METRIC_{_const(metric['name'])}", metric["name"],
                    f"{metric['instrument']} ({metric['unit']}): {metric['brief']}"))
    for event in reg.get("events", []):
        out.append((f"EVENT_{_const(event['name'])}", event["name"], f"Event name of: {event['brief']}"))
    names = [c[0] for c in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RegistryError(f"{REGISTRY_PATH}: entries map to the same constant name(s): {', '.join(dupes)}")
    return out


def render_python(reg: dict[str, Any]) -> str:
    """The text of ``_attributes.py`` for the registry."""
    consts = _constants(reg)
    lines = [
        '"""otelml semantic conventions. GENERATED from registry.yaml by',
        "``python -m otelml.semconv.generate``: do not edit by hand.\"\"\"",
        "",
        "from __future__ import annotations",
        "",
        f"SEMCONV_VERSION = {reg.get('version', '0')!r}",
        "",
    ]
    for name, value, doc in consts:
        lines.extend(f"#: {part}" for part in _wrap(doc, 100))
        lines.append(f"{name} = {value!r}")
        lines.append("")
    lines.append("FEATURE_NAME_NORMALISATION = (")
    lines.extend(f"    {part + ' '!r}" for part in _wrap(reg["feature_name_normalisation"], 90))
    lines.append(")")
    lines.append("")
    lines.append("__all__ = [")
    exported = sorted(["SEMCONV_VERSION", *(c[0] for c in consts), "FEATURE_NAME_NORMALISATION"])
    lines.extend(f'    "{n}",' for n in exported)
    lines.append("]")
    return "\n".join(lines) + "\n"


_RULE5 = "|---|---|---|---|---|"


def _cell(value: Any) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value).replace("|", "\\|")


def render_markdown(reg: dict[str, Any]) -> str:
    """The text of ``docs/semconv.md`` for the registry."""
    consts = {value: name for name, value, _ in _constants(reg)}
    out = [
        "# otelml semantic conventions",
        "",
        "<!-- GENERATED from otelml/semconv/registry.yaml by `python -m otelml.semconv.generate`;"
        " do not edit by hand. -->",
        "",
        f"Registry version {reg.get('version', '0')}. Every name below is importable from `otelml.semconv`"
        " under the constant given.",
        "",
        "## Spans",
        "",
        "Span name: `{ml.operation.name} {target}`.",
        "",
        "| operation | span name | meaning | constant |",
        "|---|---|---|---|",
    ]
    for op in reg["operations"]:
        out.append(f"| `{op['name']}` | `{op['span_name']}` | {_cell(op['brief'])} | "
                   f"`SPAN_NAME_{_const(op['name'])}` |")
    out += ["", "## Attributes", "", "| attribute | type | on | meaning | constant |", _RULE5]
    for attr in reg["attributes"]:
        key = attr["id"] + (".<name>" if attr.get("template") else "")
        const = consts[attr["id"] + "." if attr.get("template") else attr["id"]]
        cells = [f"`{key}`", _cell(attr["type"]), _cell(attr["applies_to"]), _cell(attr["brief"])]
        cells.append(f"`{const}`")
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## Metrics", "", "| metric | instrument | unit | meaning | constant |", _RULE5]
    for metric in reg["metrics"]:
        out.append(f"| `{metric['name']}` | {metric['instrument']} | `{metric['unit']}` | "
                   f"{_cell(metric['brief'])} | `METRIC_{_const(metric['name'])}` |")
    if reg.get("events"):
        out += ["", "## Events", "", "Alerts are log records of severity WARN with one of these event names.",
                "", "| event | meaning | constant |", "|---|---|---|"]
        for event in reg["events"]:
            out.append(f"| `{event['name']}` | {_cell(event['brief'])} | `EVENT_{_const(event['name'])}` |")
    out += ["", "## Feature-name normalisation", "", *_wrap(reg["feature_name_normalisation"], 110), "",
            "Implemented by `otelml.semconv.normalize_feature_name` (one name) and "
            "`otelml.semconv.normalize_feature_names` (a model's columns, with the duplicate rule).", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otelml.semconv.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    try:
        reg = load_registry()
        outputs = {PYTHON_PATH: render_python(reg), DOCS_PATH: render_markdown(reg)}
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date with {REGISTRY_PATH}: run python -m otelml.semconv.generate",
                  file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
