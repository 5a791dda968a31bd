"""The judging core stays pure: no clocks, sockets, files or servers below the engine.

Data flows one way (sources → ledger → store → judges → alerts → router → notifiers); the pure
modules below may import each other and libraries that compute, never the I/O shell.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import monitor

PACKAGE = Path(monitor.__file__).parent
PURE = [
    "ledger",
    "anomaly",
    "alerting",
    "engine.py",
    "records.py",
    "config/model.py",
    "config/where.py",
    "config/where_syntax.py",
]
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
}


def modules() -> list[Path]:
    out: list[Path] = []
    for entry in PURE:
        path = PACKAGE / entry
        out.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return out


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_core_module_imports_no_io(path: Path) -> None:
    bad = {
        name
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{path.name} imports {sorted(bad)}; pass time and I/O in from the shell"


def test_the_public_surface_is_small() -> None:
    assert monitor.__all__ == ["__version__"]
