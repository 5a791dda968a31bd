"""The notifier registry: one ``Notifier`` per integration, found by looking, not by listing.

Every module of ``monitor.notify`` that defines ``NOTIFIER`` is an integration: ``discover``
imports them all once, keys them by ``NOTIFIER.name`` (the ``integration`` of the configs it
delivers) and registers the receiver config of those that bring one (``NOTIFIER.receiver``) with
routing's loader (``monitor.routing.integrations``), which sits below and cannot import this. So
adding an integration is adding one file (docs/extending.md); ``dispatch.py`` fans out
through whatever is registered, with no per-integration branch.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import monitor.notify
from monitor.alerting.notification import Delivery, Notification
from monitor.routing import integrations
from monitor.routing.integrations import IntegrationSpec

if TYPE_CHECKING:
    from monitor.notify.clients import Clients


class Notifier(Protocol):
    """One integration (Alertmanager's ``notify.Notifier``). ``notify`` sends one notification
    with one config of its receiver and says what came of it: it never raises for the network or
    the remote side (``http.py`` classifies those as ``retry`` or ``failed``), it reads
    ``notification.prior.state`` and returns the ``Delivery.state`` it wants back next time, and
    it leaves retries, timeouts and fan-out to ``dispatch.deliver``."""

    name: str
    """Alertmanager's name (``slack``): the ``integration`` of the configs it takes."""
    receiver: IntegrationSpec | None
    """Its receiver config for routing's loader (``None``: still described in routing itself)."""

    async def notify(
        self,
        notification: Notification,
        config: Any,
        environ: Mapping[str, str],
        clients: Clients,
    ) -> Delivery: ...


@functools.cache
def discover() -> Mapping[str, Notifier]:
    """Every ``NOTIFIER`` of the modules in ``monitor.notify``, by name; registers their receiver
    configs with routing. Called by the top-level wiring (``monitor.validate``) before any Routing
    file is read, and by ``dispatch``."""
    found: dict[str, Notifier] = {}
    for module in pkgutil.iter_modules(monitor.notify.__path__):
        loaded = importlib.import_module(f"monitor.notify.{module.name}")
        notifier = getattr(loaded, "NOTIFIER", None)
        if notifier is None:
            continue
        if notifier.name in found:
            raise RuntimeError(f"two notifiers named {notifier.name!r}: {module.name} and another")
        found[notifier.name] = notifier
        if notifier.receiver is not None:
            integrations.register(notifier.receiver)
    return dict(sorted(found.items()))


__all__ = ["Notifier", "discover"]
