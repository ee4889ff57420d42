"""The import rule of each room (docs/architecture.md, "Rooms and their import rules"), checked on the
source with `ast`: a change that crosses a wall fails here, naming the file and line."""

from __future__ import annotations

import ast

from tests.architecture.imports import REPO, ROOTS, Edge, cycles, edges, modules

MODULES = modules()
EDGES = edges()
COLLECTOR = "otelml_collector"

def ours(target: str) -> bool:
    return target.split(".")[0] in ROOTS


def from_room(room: str) -> list[Edge]:
    return [e for e in EDGES if e.source == room or e.source.startswith(room + ".")]


def where(e: Edge) -> str:
    return f"{MODULES[e.source].relative_to(REPO)}:{e.line} imports {e.target}"


def package(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def test_the_graph_is_read() -> None:
    assert "otelml_collector.otlp.codec" in MODULES and "otelml.stats._methods" in MODULES
    pairs = {(e.source, e.target) for e in EDGES}
    assert ("otelml_collector.pipeline", "otelml_collector.otlp.splice") in pairs


def test_wire_package_imports_nothing_of_the_sidecar_or_the_library() -> None:
    bad = [where(e) for e in from_room(f"{COLLECTOR}.otlp") if ours(e.target)]
    bad = [b for b in bad if not b.rsplit(" ", 1)[1].startswith(f"{COLLECTOR}.otlp")]
    assert bad == []


def test_protocol_servers_know_the_acceptor_not_the_receiver() -> None:
    servers = {f"{COLLECTOR}.receivers.otlp.grpc_server", f"{COLLECTOR}.receivers.otlp.http_server"}
    forbidden = {f"{COLLECTOR}.receivers.otlp.receiver", f"{COLLECTOR}.receivers.otlp"}
    assert [where(e) for e in EDGES if e.source in servers and e.target in forbidden] == []


def test_processors_reach_bytes_only_through_the_request_and_the_wire_face() -> None:
    allowed = {f"{COLLECTOR}.otlp", f"{COLLECTOR}.otlp.fastscan"}
    bad = [
        where(e)
        for e in from_room(f"{COLLECTOR}.processors")
        if e.target.startswith(f"{COLLECTOR}.otlp") and e.target not in allowed
    ]
    assert bad == []
    for name, path in MODULES.items():
        if not name.startswith(f"{COLLECTOR}.processors") or path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            assert not (isinstance(node, ast.Attribute) and node.attr in ("raw", "__dict__", "_message")), (
                f"{path.relative_to(REPO)}:{node.lineno}: a processor reads request internals ({node.attr})"
            )


def test_no_package_imports_another_packages_private_module() -> None:
    found = set()
    for e in EDGES:
        if not ours(e.target) or e.target not in MODULES:
            continue
        parts = e.target.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:i])
                home = package(e.source)
                if home != owner and not home.startswith(owner + "."):
                    found.add((e.source, e.target))
                break
    assert found == set(), "import the name from the package's public face (its __init__ / __all__)"


# The library modules that may read OpenTelemetry's private names (docs/architecture.md): the span
# lifecycle, and auto.py for provider set-up.
OTEL_PRIVATE_READERS = {"otelml._lifecycle", "otelml.auto"}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:` (annotations are never read at run time)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", "")) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _private_otel_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of each import of an OpenTelemetry module or name whose path has a `_private` part
    (``_internal`` modules, ``_SPAN_KEY``, the still-private logs signal ``_logs`` / ``_log_exporter``), and
    each read by string of the runtime context's private attributes."""

    def private(dotted: str) -> bool:
        return any(p.startswith("_") and not p.startswith("__") for p in dotted.split("."))

    found = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] == "opentelemetry" and private(a.name)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "opentelemetry":
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                      if private(f"{node.module}.{a.name}")]
        elif isinstance(node, ast.Constant) and node.value in ("_RUNTIME_CONTEXT", "_current_context"):
            found.append((node.lineno, node.value))
    return found


def test_only_the_lifecycle_and_auto_read_opentelemetry_private_names() -> None:
    bad, readers = [], set()
    for name, path in MODULES.items():
        if not name.startswith("otelml.") or path.suffix != ".py":
            continue
        for line, imported in _private_otel_names(ast.parse(path.read_text(encoding="utf-8"))):
            readers.add(name)
            if name not in OTEL_PRIVATE_READERS:
                bad.append(f"{path.relative_to(REPO)}:{line}: {imported}")
    assert bad == [], "route these through otelml._lifecycle"
    assert readers == OTEL_PRIVATE_READERS  # the rule is read (a typo above would pass anything)


def test_only_telemetry_reads_opentelemetry_private_names_in_the_sidecar() -> None:
    """The sidecar's OTel SDK glue (providers, readers, the still-private logs signal) is one module."""
    bad, readers = [], set()
    for name, path in MODULES.items():
        if not name.startswith("otelml_collector.") or path.suffix != ".py":
            continue
        for line, imported in _private_otel_names(ast.parse(path.read_text(encoding="utf-8"))):
            readers.add(name)
            if name != "otelml_collector.telemetry":
                bad.append(f"{path.relative_to(REPO)}:{line}: {imported}")
    assert bad == [], "route these through otelml_collector.telemetry"
    assert readers == {"otelml_collector.telemetry"}


def test_the_sidecar_imports_only_public_names_of_the_library() -> None:
    bad = []
    for name, path in MODULES.items():
        if not name.startswith(COLLECTOR) or path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "otelml"):
                continue
            if any(p.startswith("_") for p in node.module.split(".")) or any(  # type: ignore[union-attr]
                a.name.startswith("_") for a in node.names
            ):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}: from {node.module} import ...")
    assert bad == []


def test_no_import_circles_in_the_sidecar_and_the_statistics_and_quality_cores() -> None:
    rooms = (COLLECTOR, "otelml.stats", "otelml.quality")
    graph: dict[str, set[str]] = {}
    for e in EDGES:
        if e.target in MODULES and e.target != e.source and e.source.startswith(rooms):
            graph.setdefault(e.source, set()).add(e.target)
    assert cycles(graph) == []


def test_the_service_wires_typed_protocols() -> None:
    source = (REPO / "collector" / COLLECTOR / "service.py").read_text(encoding="utf-8")
    assert "hasattr(" not in source and 'startswith("receivers.' not in source


def test_no_module_over_450_lines() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in MODULES.values()
        if p.suffix == ".py" and (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert long == {}


def test_the_web_ui_reads_the_http_api_not_the_processors() -> None:
    """Pages are built from the API's own answers (`HttpApi.call`): the UI room imports the HTTP API and the
    library's `otelml.report`, never a processor, the prediction store or the state."""
    allowed = {f"{COLLECTOR}.httpapi", f"{COLLECTOR}.ui", f"{COLLECTOR}.ui.pages", "otelml", "otelml.report"}
    bad = [where(e) for e in from_room(f"{COLLECTOR}.ui") if ours(e.target) and e.target not in allowed]
    assert bad == []


def test_the_report_package_imports_no_sidecar() -> None:
    assert [where(e) for e in from_room("otelml.report") if e.target.startswith(COLLECTOR)] == []
