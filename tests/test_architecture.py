"""The shape of the code is a promise, and these tests keep it (DESIGN.md section 6).

Three rules, each checked over every import statement in ``monitor/`` (top-level and lazy ones
inside functions alike), by functions that read source text, so each rule is also shown to fail
on a planted import:

- **The pure core** (records, the judges, the engine and its view) imports no clock, socket,
  file, database, server or subprocess, and nothing of the I/O shell: time and I/O are passed in.
- **Layers**: every package and top-level module has a layer; an import goes to the same layer
  or a lower one, never up (data flows sources → ledger → judges → alerts → notifiers, and the
  wiring sits on top).
- **No package-level import cycles**: packages can be read, tested and replaced one at a time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import monitor

PACKAGE = Path(monitor.__file__).parent

PURE = [
    "records.py",
    "labels.py",
    "verdict.py",
    "names.py",
    "time_intervals.py",
    "timeutil.py",
    "stats.py",
    "config/model.py",
    "config/where.py",
    "config/where_syntax.py",
    "ledger",
    "anomaly",
    "slo",
    "alerting",
    "routing/model.py",
    "routing/matchers.py",
    "engine.py",
    "engine_view.py",
    "engine_record.py",
    "leadership.py",
]
"""The judging core: pure functions of their inputs and an explicit ``now``."""

FORBIDDEN = {
    "time",
    "datetime.datetime.now",
    "socket",
    "sqlite3",
    "asyncio",
    "httpx",
    "uvicorn",
    "starlette",
    "subprocess",
    "monitor.store",
    "monitor.server",
    "monitor.daemon",
    "monitor.demo",
    "monitor.cli",
    "monitor.notify",
    "monitor.sources",
    "monitor.export",
    "monitor.agent",
    "monitor.sim",
    "monitor.replay",
    "monitor.client",
    "monitor.validate",
    "monitor.testing",
    "monitor.testing_fakes",
    "monitor.clock",
    "monitor.logs",
}
"""What the pure core may not import: clocks, sockets, databases, servers, the I/O shell."""

NO_FILES = ["ledger", "anomaly", "alerting", "engine.py", "engine_view.py", "engine_record.py"]
"""Parts of the core that hold state or judge it and have no reason even to name a path:
files are read by the loaders (``config/``, ``slo/load.py``) and written by the store."""

LOADERS = ["anomaly/load.py"]
"""Exempt from ``NO_FILES``: the checks' YAML loader reads ``checks/*.yaml`` (as ``slo/load.py``
reads SLO files) and lives beside the spec it parses into."""

LAYERS: Mapping[int, tuple[str, ...]] = {
    0: (
        "monitor",  # the package's __init__: its version only
        "records",
        "labels",
        "verdict",
        "names",
        "time_intervals",
        "timeutil",
        "stats",
        "logs",
        "clock",
        "leadership",
    ),
    1: ("config",),
    2: ("ledger",),
    3: ("anomaly", "slo", "routing"),
    4: ("alerting",),
    5: ("engine", "engine_view", "engine_record"),
    6: ("notify", "sources", "store", "export", "sim", "client", "durability"),
    7: ("server", "agent"),  # an agent serves the push API locally with the server's handlers
    8: ("daemon", "daemon_address", "standby", "reload", "testing", "testing_fakes", "validate"),
    9: ("demo", "replay", "cli", "slo_cli", "silence_cli", "__main__"),
}
"""Records at the bottom, then config, ledger, judges, alerts, the engine, the adapters at the
edges, the servers, the wiring, and the entry points on top."""

LAYER = {unit: level for level, units in LAYERS.items() for unit in units}


# --- reading imports ------------------------------------------------------------------------


def module_name(path: Path) -> str:
    """``monitor/ledger/ledger.py`` → ``monitor.ledger.ledger``; a package is its ``__init__``."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(module: str, source: str, is_package: bool = False) -> set[str]:
    """Every name an import in ``source`` reaches, anywhere in the file (lazy imports inside
    functions included); ``from a import b`` gives ``a`` and ``a.b``, relative imports are
    resolved against ``module``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent if is_package else parent[:-1]
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def unit_of(name: str) -> str | None:
    """The package or top-level module of ``monitor`` a dotted name lies in (None: not ours)."""
    parts = name.split(".")
    if parts[0] != "monitor":
        return None
    if len(parts) == 1:
        return "monitor"
    head = parts[1]
    if len(parts) > 2 or (PACKAGE / head).is_dir() or (PACKAGE / f"{head}.py").exists():
        return head
    return "monitor"  # a name defined in monitor/__init__.py


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _expand(entries: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for entry in entries:
        path = PACKAGE / entry
        out.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return out


def _matches(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _outermost(names: Iterable[str]) -> list[str]:
    """``a`` for ``{a, a.b}``: one report per import, not one per imported name."""
    found = set(names)
    return sorted(n for n in found if not any(_matches(n, {m}) and n != m for m in found))


# --- the three rules, as functions of source text -------------------------------------------


def pure_core_violations(module: str, source: str, files_too: bool = False) -> list[str]:
    """The forbidden names ``source`` (the text of pure module ``module``) imports."""
    forbidden = FORBIDDEN | ({"pathlib"} if files_too else set())
    return _outermost(n for n in imported(module, source) if _matches(n, forbidden))


def layer_violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Imports of ``module`` that reach a higher layer, as ``"name (layer N > M)"``; a unit
    missing from ``LAYERS`` is reported too, so a new package must be placed."""
    own = unit_of(module)
    if own not in LAYER:
        return [f"{module} (no layer: add {own!r} to LAYERS)"]
    out = []
    for name in _outermost(imported(module, source, is_package)):
        unit = unit_of(name)
        if unit is None or unit == own:
            continue
        if unit not in LAYER:
            out.append(f"{name} (no layer: add {unit!r} to LAYERS)")
        elif LAYER[unit] > LAYER[own]:
            out.append(f"{name} (layer {LAYER[unit]} > {LAYER[own]})")
    return out


def package_graph(sources: Mapping[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Unit → the other units it imports, from ``{module: (source, is_package)}``."""
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        own = unit_of(module)
        assert own is not None
        targets = graph.setdefault(own, set())
        for name in imported(module, source, is_package):
            unit = unit_of(name)
            if unit is not None and unit != own:
                targets.add(unit)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _read(path: Path) -> str:
    return path.read_text()


def _ids(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


# --- the code keeps the rules ---------------------------------------------------------------


@pytest.mark.parametrize("path", _expand(PURE), ids=_ids)
def test_pure_core_module_imports_no_io(path: Path) -> None:
    files_too = path in set(_expand(NO_FILES)) - set(_expand(LOADERS))
    bad = pure_core_violations(module_name(path), _read(path), files_too)
    assert not bad, f"{_ids(path)} imports {bad}; pass time and I/O in from the shell"


@pytest.mark.parametrize("path", all_modules(), ids=_ids)
def test_every_import_goes_to_the_same_layer_or_below(path: Path) -> None:
    bad = layer_violations(module_name(path), _read(path), path.name == "__init__.py")
    assert not bad, f"{_ids(path)} imports upward: {bad}"


def test_every_unit_has_exactly_one_layer() -> None:
    placed = [unit for units in LAYERS.values() for unit in units]
    assert len(placed) == len(set(placed)), "a unit is in two layers"
    units = {unit_of(module_name(p)) for p in all_modules()}
    assert units <= set(placed), f"not placed in LAYERS: {sorted(units - set(placed))}"
    assert set(placed) <= units, (
        f"LAYERS names what no longer exists: {sorted(set(placed) - units)}"
    )


def test_there_are_no_package_level_import_cycles() -> None:
    graph = package_graph(
        {module_name(p): (_read(p), p.name == "__init__.py") for p in all_modules()}
    )
    found = cycles(graph)
    assert len(found) == 0, f"{len(found)} package cycles: {found}"


def test_the_public_surface_is_small() -> None:
    assert monitor.__all__ == ["__version__"]


# --- the guard itself fails when it should --------------------------------------------------


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import time\n", ["time"]),
        ("def f():\n    import asyncio\n", ["asyncio"]),
        ("from monitor.store.sqlite import SqliteStore\n", ["monitor.store.sqlite"]),
        ("from ..server import app\n", ["monitor.server"]),
        ("from datetime import datetime\nimport math\n", []),
    ],
    ids=[
        "a clock at the top of the file",
        "an event loop imported lazily inside a function",
        "the store",
        "the server through a relative import",
        "what computes is allowed",
    ],
)
def test_a_planted_import_breaks_the_pure_core_rule(source: str, found: list[str]) -> None:
    assert pure_core_violations("monitor.ledger.planted", source) == found


def test_a_path_is_reported_only_where_files_are_forbidden() -> None:
    source = "from pathlib import Path\n"
    assert pure_core_violations("monitor.engine", source, files_too=True) == ["pathlib"]
    assert pure_core_violations("monitor.config.model", source) == []


@pytest.mark.parametrize(
    ("module", "source", "found"),
    [
        (
            "monitor.ledger.planted",
            "def f():\n    from monitor.engine import Engine\n",
            ["monitor.engine (layer 5 > 2)"],
        ),
        (
            "monitor.alerting.planted",
            "from ..notify import console\n",
            ["monitor.notify (layer 6 > 4)"],
        ),
        ("monitor.server.planted", "from monitor.ledger.records import EdgeResult\n", []),
        ("monitor.anomaly.planted", "from monitor.slo import model\n", []),
        (
            "monitor.newpkg.planted",
            "",
            ["monitor.newpkg.planted (no layer: add 'newpkg' to LAYERS)"],
        ),
    ],
    ids=[
        "a lazy import of the engine from the ledger",
        "a relative import of a notifier from alerting",
        "an adapter may import a record",
        "judges of one layer may import each other",
        "a package without a layer",
    ],
)
def test_a_planted_import_breaks_the_layer_rule(module: str, source: str, found: list[str]) -> None:
    assert layer_violations(module, source) == found


def test_a_planted_cycle_is_found() -> None:
    sources = {
        "monitor.ledger.a": ("from monitor.anomaly import b\n", False),
        "monitor.anomaly.b": ("from monitor.ledger import a\n", False),
        "monitor.records": ("", False),
    }
    assert cycles(package_graph(sources)) == [["anomaly", "ledger"]]
