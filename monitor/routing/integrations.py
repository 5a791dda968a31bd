"""Receiver integrations that plug in from above: the routing side of a notifier plug-in.

Routing is below ``monitor.notify`` and never imports it; a notifier plug-in file (``monitor/notify/
msteamsv2.py``) describes its receiver config here with an ``IntegrationSpec`` (the pydantic model
of one ``<name>_configs`` entry, its extension settings, its whole-file checks and its mapping to
a config record) and ``monitor.notify.registry.discover`` registers it. The loader
(``load.py``) builds the Routing schema from what is registered when it reads a file, so a new
integration needs no edit here. Slack, PagerDuty and webhook are still described by ``spec.py``,
``receiver_checks.py`` and ``compile.py`` directly (see docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.config.errors import IssueCollector, KeyPath
from monitor.config.spec import Spec


@dataclass(frozen=True)
class ReceiverContext:
    """What an integration's checks and mapping may look at besides its own configs."""

    receiver: str
    ext: Any
    """This integration's ``extensions.receivers.<receiver>.<name>`` value, or ``None``."""
    external_url: str
    base: Path
    """Where relative ``*_file`` secrets are read from (the Routing file's directory)."""
    at: KeyPath
    """``alertmanager.receivers[i]``: prefix of the issues about the configs."""
    ext_at: KeyPath
    """``extensions.receivers.<receiver>``: prefix of the issues about the extension settings."""


def _no_checks(configs: Sequence[Any], ctx: ReceiverContext, out: IssueCollector) -> None:
    """Integrations whose schema says everything need no whole-file checks."""


@dataclass(frozen=True)
class IntegrationSpec:
    """One integration's receiver config. ``name`` is Alertmanager's: the YAML key is
    ``<name>_configs``, the extension key ``<name>`` and the deliveries ``<name>[0]``, ``<name>[1]``.

    ``compile`` turns the validated configs of one receiver into config records (frozen, with
    ``integration: ClassVar[str] = name`` and ``send_resolved``), which the notifier of that name
    receives; ``check`` adds the issues the schema cannot see (a secret with no source)."""

    name: str
    config: type[Spec]
    compile: Callable[[Sequence[Any], ReceiverContext], tuple[Any, ...]]
    extension: type[Spec] | None = None
    check: Callable[[Sequence[Any], ReceiverContext, IssueCollector], None] = _no_checks

    @property
    def key(self) -> str:
        return f"{self.name}_configs"


_REGISTERED: dict[str, IntegrationSpec] = {}


def register(spec: IntegrationSpec) -> IntegrationSpec:
    """Make ``spec`` known to the loader (idempotent: a module imported twice registers once)."""
    _REGISTERED[spec.name] = spec
    return spec


def registered() -> tuple[IntegrationSpec, ...]:
    """The plug-in integrations, by name (the order of their keys in a receiver's schema)."""
    return tuple(_REGISTERED[n] for n in sorted(_REGISTERED))


def receiver_context(
    plugin: IntegrationSpec, receiver: str, routing: Any, base: Path, at: KeyPath
) -> ReceiverContext:
    """The context of ``plugin`` in one receiver of a checked ``RoutingSpec``."""
    ext = routing.extensions.receivers.get(receiver)
    return ReceiverContext(
        receiver=receiver,
        ext=getattr(ext, plugin.name, None),
        external_url=routing.extensions.external_url,
        base=base,
        at=at,
        ext_at=("extensions", "receivers", receiver),
    )


__all__ = [
    "IntegrationSpec",
    "ReceiverContext",
    "receiver_context",
    "register",
    "registered",
]
