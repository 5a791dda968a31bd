"""The notification log: what was last sent to each (receiver, group, integration), and when.

Alertmanager's ``nflog`` as pure records. The dispatcher asks it whether a group needs notifying
(``needs_update``, Alertmanager's ``DedupStage.needsUpdate``) and writes to it once a notifier
reports a delivery; ``monitor/store/nflog_sqlite.py`` persists its entries, so a restarted daemon
neither repeats a notification nor forgets to resolve one. An entry's value is a ``Prior``: the
firing and resolved fingerprints that went out, the time, and the integration's opaque ``state``
(what it needs to update the same message or incident later; only the integration reads it).

Integrations are named as Alertmanager names them within a receiver (``slack[0]``,
``pagerduty[0]``, ``msteamsv2[0]``, hopwatch's ``console``: ``Receiver.named``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from monitor.alerting.notification import Prior
from monitor.routing.model import Receiver

FIRING_RETENTION = 7 * 86400.0
"""How long an entry that still lists firing alerts is kept without being refreshed, so a daemon
that was down for days still sends the resolve it owes. Alertmanager keeps every entry for
``2 * repeat_interval`` only; hopwatch departs from that for entries with firing alerts."""


@dataclass(frozen=True)
class LogKey:
    receiver: str
    group_key: str
    integration: str


@dataclass(frozen=True)
class Entry:
    """One line of the log: ``prior`` is the last delivery; it is dropped after ``expires_at``."""

    key: LogKey
    prior: Prior
    expires_at: float


def integration_names(receiver: Receiver | None) -> tuple[str, ...]:
    """The integrations of ``receiver`` in Alertmanager's order and naming; none for ``None``."""
    if receiver is None:
        return ()
    return tuple(name for name, _ in receiver.named())


def sends_resolved(receiver: Receiver | None, integration: str) -> bool:
    """Whether ``integration`` of ``receiver`` wants resolved notifications (console: always)."""
    if receiver is None:
        return True
    config = dict(receiver.named()).get(integration)
    return True if config is None else bool(config.send_resolved)


def needs_update(
    prior: Prior | None,
    firing: Collection[str],
    resolved: Collection[str],
    repeat_interval: float,
    send_resolved: bool,
    now: float,
) -> bool:
    """Alertmanager's ``DedupStage.needsUpdate``, rule for rule.

    - never notified: only if something fires (a group that only resolved is news to no one);
    - a firing alert not in the last notification: yes;
    - nothing fires: yes if the last notification had firing alerts (the resolve), else no — and
      this regardless of ``send_resolved``, so the log forgets the firing set;
    - ``send_resolved`` and an alert resolved since the last notification: yes;
    - otherwise only once ``repeat_interval`` has passed, strictly: a notification logged at
      ``t`` repeats at the first flush after ``t + repeat_interval``, never at it.
    """
    if prior is None:
        return len(firing) > 0
    if not set(firing) <= set(prior.firing):
        return True
    if not firing:
        return len(prior.firing) > 0
    if send_resolved and not set(resolved) <= set(prior.resolved):
        return True
    return prior.sent_at < now - repeat_interval


def merge(old: Prior | None, new: Prior) -> Prior:
    """The entry after ``new`` was delivered: its sets and time, and ``old``'s state with the keys
    ``new`` names written over it (a resolve updates the message the trigger created; a delivery
    that learned nothing new does not erase the handle)."""
    if old is None or not old.state:
        return new
    return replace(new, state={**old.state, **new.state})


def newer(a: Entry, b: Entry) -> Entry:
    """Which of two entries for one key wins when logs are merged (loaded from the store, or from
    another replica): the later delivery, as in Alertmanager's ``nflog`` merge; on a tie, the one
    that expires later."""
    return b if (b.prior.sent_at, b.expires_at) > (a.prior.sent_at, a.expires_at) else a


class NotificationLog:
    """The log in memory. ``changes()`` hands the store what was written since the last call;
    ``prune(now)`` drops expired entries and returns their keys so the store drops them too."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: dict[LogKey, Entry] = {}
        self._dirty: dict[LogKey, Entry] = {}
        self.merge(entries)

    def merge(self, entries: Iterable[Entry]) -> None:
        """Take in entries from elsewhere (the store at start); the newer of two always wins."""
        for entry in entries:
            known = self._entries.get(entry.key)
            self._entries[entry.key] = entry if known is None else newer(known, entry)

    def get(self, receiver: str, group_key: str, integration: str) -> Prior | None:
        entry = self._entries.get(LogKey(receiver, group_key, integration))
        return None if entry is None else entry.prior

    def query(self, receiver: str, group_key: str) -> dict[str, Prior]:
        """Every integration's last delivery for one group of one receiver."""
        return {
            k.integration: e.prior
            for k, e in self._entries.items()
            if k.receiver == receiver and k.group_key == group_key
        }

    def log(
        self,
        receiver: str,
        group_key: str,
        integration: str,
        prior: Prior,
        repeat_interval: float,
    ) -> Entry:
        """Record a delivery (``prior.sent_at`` is its time). It is kept for ``2 *
        repeat_interval`` (Alertmanager), or ``FIRING_RETENTION`` while it lists firing alerts."""
        key = LogKey(receiver, group_key, integration)
        known = self._entries.get(key)
        merged = merge(None if known is None else known.prior, prior)
        keep = 2 * repeat_interval
        if merged.firing:
            keep = max(keep, FIRING_RETENTION)
        entry = Entry(key, merged, merged.sent_at + keep)
        self._entries[key] = entry
        self._dirty[key] = entry
        return entry

    def prune(self, now: float) -> list[LogKey]:
        gone = [k for k, e in self._entries.items() if e.expires_at <= now]
        for key in gone:
            del self._entries[key]
            self._dirty.pop(key, None)
        return gone

    def changes(self) -> list[Entry]:
        """Entries written since the last call, for the store."""
        out = list(self._dirty.values())
        self._dirty.clear()
        return out

    def unsaved(self, entries: Iterable[Entry]) -> None:
        """Hand entries back after the store failed to take them: the next ``changes`` has them,
        unless a newer delivery for the same key was logged meanwhile."""
        for entry in entries:
            if entry.key not in self._dirty and self._entries.get(entry.key) == entry:
                self._dirty[entry.key] = entry

    def entries(self) -> list[Entry]:
        return sorted(self._entries.values(), key=lambda e: (e.key.receiver, e.key.group_key))

    def __len__(self) -> int:
        return len(self._entries)


__all__ = [
    "FIRING_RETENTION",
    "Entry",
    "LogKey",
    "NotificationLog",
    "integration_names",
    "merge",
    "needs_update",
    "newer",
    "sends_resolved",
]


class NflogPersistence(Protocol):
    """Where the notification log survives a restart (``monitor.store.nflog_sqlite.NflogStore``,
    or PostgreSQL for a shared judge): the notifier saves what a flush changed, loads it at start."""

    def save(self, entries: Iterable[Entry]) -> None: ...

    def delete(self, keys: Iterable[LogKey]) -> None: ...

    def load(self) -> list[Entry]: ...
