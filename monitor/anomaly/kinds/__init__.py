"""The check kinds hopwatch ships: every module of this package that defines ``KIND``.

Discovery, not a list: a new kind is one new module here (``kinds/<name>.py`` with a ``CheckSpec``
subclass and ``KIND = CheckKindPlugin(...)``, see ``docs/extending.md``), and the loader, the
runner and replay know it. Modules whose name starts with ``_`` hold shared helpers.

Kinds are listed (in error messages, ``one of ...``) in the order ``CheckKind`` names the original
seven, then any newer kind by name, so adding a kind never reorders existing messages.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

from monitor.anomaly.kind import CheckKindPlugin, KindRegistry
from monitor.anomaly.model import CheckKind


def _plugin(module: ModuleType) -> CheckKindPlugin:
    plugin = getattr(module, "KIND", None)
    if not isinstance(plugin, CheckKindPlugin):
        raise TypeError(
            f"{module.__name__} defines no KIND = CheckKindPlugin(...); shared helpers belong in "
            "a module whose name starts with '_'"
        )
    return plugin


def _order(plugin: CheckKindPlugin) -> tuple[int, str]:
    legacy = [str(k) for k in CheckKind]
    return (legacy.index(plugin.name) if plugin.name in legacy else len(legacy), plugin.name)


def discover(package: ModuleType) -> KindRegistry:
    """The registry of every public module of ``package`` (each must define ``KIND``)."""
    plugins = [
        _plugin(importlib.import_module(f"{package.__name__}.{info.name}"))
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    return KindRegistry(tuple(sorted(plugins, key=_order)))


BUILTIN_KINDS = discover(sys.modules[__name__])
"""Every kind in this package: what the daemon, ``hopwatch validate`` and replay run."""

__all__ = ["BUILTIN_KINDS", "discover"]
