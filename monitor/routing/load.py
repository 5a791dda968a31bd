"""From ``kind: Routing`` files to ``model.RoutingConfig``: the entry points.

Three passes, each reporting ``ConfigIssue`` values with file:line:col like the rest of the config:
1. The strict schema (``spec.py`` via ``monitor.config.document``), its issues reworded for
   Alertmanager users (``schema_issues.py``).
2. Checks that need the whole file (``checks.py``, ``receiver_checks.py``; what ``hopwatch
   validate`` runs through ``validate_routing_file``).
3. Mapping into the model (``compile.py``).
Integrations plugged in from above (``integrations.registered()``, filled by
``monitor.notify.registry.discover``) extend the schema, the checks and the mapping.
Nothing past this package sees YAML or the spec. Secrets are never read here: the notifiers read
them when they send, so ``validate`` passes in CI where the secrets do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.config.document import validate_data
from monitor.config.errors import ConfigError, ConfigIssue, IssueCollector
from monitor.config.model import Config
from monitor.config.yamlpos import Positions, YamlDocument, load_yaml
from monitor.routing.checks import check_file
from monitor.routing.compile import compile_routing
from monitor.routing.integrations import registered
from monitor.routing.model import RoutingConfig, default_routing
from monitor.routing.schema_issues import reword_schema_issue
from monitor.routing.spec import ROUTING_KIND, RoutingSpec, routing_spec


@dataclass(frozen=True)
class _Read:
    spec: RoutingSpec | None
    out: IssueCollector


def _read(path: Path, data: Any, positions: Positions) -> _Read:
    out = IssueCollector(str(path), positions)
    model = routing_spec(registered())
    spec, issues = validate_data(path, data, positions, model)
    out.items.extend(reword_schema_issue(i, model) for i in issues)
    if spec is not None:
        check_file(spec, out, path.parent, registered())
    return _Read(spec, out)


def validate_routing_file(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """Every problem of one Routing file: the ``monitor.validate.KINDS`` entry for ``Routing``."""
    return _read(path, data, positions).out.items


def _load(path: Path, doc: YamlDocument) -> tuple[RoutingConfig | None, list[ConfigIssue]]:
    issues = list(doc.issues)
    if not doc.readable:
        return None, issues
    read = _read(path, doc.data, doc.positions)
    issues.extend(read.out.items)
    if read.spec is None or any(i.is_error for i in issues):
        return None, issues
    return compile_routing(read.spec, path, registered()), issues


def load_routing_file(path: Path | str) -> tuple[RoutingConfig | None, list[ConfigIssue]]:
    """One Routing file: its model when nothing is an error, and every issue."""
    path = Path(path)
    return _load(path, load_yaml(path))


def routing_files(config: Config) -> list[Path]:
    """The included files of ``kind: Routing``, in include order."""
    found = []
    for path in config.includes:
        doc = load_yaml(path)
        if doc.readable and isinstance(doc.data, dict) and doc.data.get("kind") == ROUTING_KIND:
            found.append(path)
    return found


def load_routing(config: Config) -> RoutingConfig:
    """The routing of ``config``: its one Routing file, or ``default_routing()`` without one.

    Raises ``ConfigError`` with every issue when the file has an error, or when there are two
    Routing files (Alertmanager has one tree; merging two silently would hide routes)."""
    files = routing_files(config)
    if not files:
        return default_routing()
    routing, issues = load_routing_file(files[0])
    for extra in files[1:]:
        line, col = load_yaml(extra).positions.of(("kind",))
        issues.append(
            ConfigIssue(
                str(extra),
                line,
                col,
                "kind",
                f"a second kind: Routing file; the routing tree is in {files[0]}",
                "Alertmanager has one routing tree: merge the routes into one file",
            )
        )
    if routing is None or any(i.is_error for i in issues):
        raise ConfigError(sorted(issues, key=ConfigIssue.sort_key))
    return routing


__all__ = [
    "compile_routing",
    "load_routing",
    "load_routing_file",
    "routing_files",
    "validate_routing_file",
]
