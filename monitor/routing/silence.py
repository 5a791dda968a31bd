"""Silences: matchers that mute the alerts they match for a while, as in Alertmanager.

A ``Silence`` is an immutable record; a ``SilenceBook`` holds the current ones and answers the
one question the dispatcher asks (``muting``: which active silences match these labels). The
book is pure: every decision takes ``now``, ids come from an injected factory, and persistence is
a ``SilenceJournal`` handed in by the shell (``monitor.store.silence_sqlite``), written before the
book changes so a failed write changes nothing.

Alertmanager's rules (``silence/silence.go``) are kept: at least one matcher, and at least one
that does not match the empty string (a silence that mutes every alert is refused); a start in the
past becomes ``now``; the end must lie after the start and in the future; expiring a pending
silence ends it before it began. Expired silences stay listed for ``RETENTION`` and are then
dropped by ``gc``.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from monitor.routing.matchers import LABEL_NAME, MatcherError, check_regex, parse_matchers
from monitor.routing.model import Matcher, MatchOp
from monitor.timeutil import format_duration

RETENTION = 5 * 86400.0
"""How long an expired silence is kept (Alertmanager's ``--data.retention`` default is 120 h)."""

MAX_MATCHERS = 32
MAX_NAME = 256
MAX_VALUE = 1024
MAX_CREATED_BY = 256
MAX_COMMENT = 2048
MAX_SILENCES = 10_000
"""Bounds so one request (or a loop of them) cannot grow the book without limit."""
MAX_DURATION = 365 * 86400.0
"""How long a silence may last, and how far ahead it may start (``SilenceBook(max_duration=)``).
A silence meant to be permanent belongs in the config (inhibit rules, routes), not here; and
times beyond year 9999 could not even be written as RFC 3339."""


class SilenceState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


class SilenceError(ValueError):
    """A silence that cannot be created: ``field`` names the input at fault, ``str()`` says
    what is wrong and how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UnknownSilence(LookupError):
    """No silence with this id (never created, or expired and garbage-collected)."""


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> SilenceState:
        """Pending before ``starts_at``, active until ``ends_at`` (exclusive), expired after."""
        if now < self.starts_at:
            return SilenceState.PENDING
        if now < self.ends_at:
            return SilenceState.ACTIVE
        return SilenceState.EXPIRED

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """Active at ``now`` and every matcher matches (a missing label matches as ``""``)."""
        return self.state(now) is SilenceState.ACTIVE and all(
            m.matches(labels) for m in self.matchers
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form (epoch seconds, matchers as strings); ``from_json`` reads it back."""
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            id=str(data["id"]),
            matchers=tuple(parse_silence_matcher(m) for m in data["matchers"]),
            starts_at=float(data["starts_at"]),
            ends_at=float(data["ends_at"]),
            created_by=str(data["created_by"]),
            comment=str(data["comment"]),
            updated_at=float(data["updated_at"]),
        )


def parse_silence_matcher(text: str, field: str = "matchers") -> Matcher:
    """One matcher in Alertmanager's syntax: ``name="value"``, ``name=~"re"``, ``name!="v"``,
    ``name!~"re"``, the value quoted or not (``amtool silence add`` accepts both)."""
    try:
        found = parse_matchers(text)
    except MatcherError as err:
        raise SilenceError(field, str(err)) from None
    if len(found) != 1:
        raise SilenceError(
            field,
            f"{text!r} is {len(found)} matchers, not one; give each matcher as its own list entry",
        )
    return found[0]


def matcher_from_parts(
    name: str, value: str, *, is_regex: bool, is_equal: bool, field: str = "matchers"
) -> Matcher:
    """A matcher from Alertmanager API v2's ``{name, value, isRegex, isEqual}``."""
    if not LABEL_NAME.match(name):
        raise SilenceError(
            f"{field}.name",
            f"{name!r} is not a label name; use letters, digits and underscores, not starting "
            "with a digit",
        )
    op = {
        (False, True): MatchOp.EQ,
        (False, False): MatchOp.NE,
        (True, True): MatchOp.RE,
        (True, False): MatchOp.NRE,
    }[(is_regex, is_equal)]
    if is_regex:
        try:
            check_regex(value)
        except MatcherError as err:
            raise SilenceError(f"{field}.value", str(err)) from None
    return Matcher(name, op, value)


def _check_unicode(field: str, value: str) -> None:
    """A string that cannot be encoded as UTF-8 (a lone surrogate from a JSON ``\\ud800``
    escape) could be stored but never answered: refuse it at the door."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise SilenceError(
                field, f"{field} is not valid Unicode (it holds a lone surrogate such as \\ud800)"
            ) from None


def stored_error(silence: Silence) -> str | None:
    """Why a silence read back from storage cannot be served (None if it can): non-finite or
    unrepresentable times, or text that is not valid Unicode. Rows written by an older hopwatch
    (before silences were validated) or by hand may hold these; listing skips them."""
    for name in ("starts_at", "ends_at", "updated_at"):
        at = getattr(silence, name)
        if not (isinstance(at, float) and math.isfinite(at) and _EARLIEST <= at <= _LATEST):
            return f"{name} {at!r} is no time between years 1 and 9999"
    texts = [silence.id, silence.created_by, silence.comment]
    texts += [t for m in silence.matchers for t in (m.name, m.value)]
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a text field holds a lone surrogate"
    return None


_EARLIEST = -62_135_596_800.0
"""0001-01-01T00:00:00Z."""
_LATEST = 253_402_300_799.0
"""9999-12-31T23:59:59Z."""


def _check_matchers(matchers: Sequence[Matcher]) -> None:
    if not matchers:
        raise SilenceError(
            "matchers",
            'at least one matcher is required; e.g. edge="identity->activation"',
        )
    if len(matchers) > MAX_MATCHERS:
        raise SilenceError(
            "matchers", f"{len(matchers)} matchers; at most {MAX_MATCHERS} are allowed"
        )
    for i, m in enumerate(matchers):
        _check_unicode(f"matchers[{i}].name", m.name)
        _check_unicode(f"matchers[{i}].value", m.value)
        if len(m.name) > MAX_NAME:
            raise SilenceError(f"matchers[{i}]", f"label name longer than {MAX_NAME} characters")
        if len(m.value) > MAX_VALUE:
            raise SilenceError(
                f"matchers[{i}]", f"matcher value longer than {MAX_VALUE} characters"
            )
    if all(m.matches({}) for m in matchers):
        shown = ", ".join(str(m) for m in matchers)
        raise SilenceError(
            "matchers",
            f"{shown} would mute every alert (each matches a missing label); at least one matcher "
            'must not match the empty string, e.g. add alertname="EdgeLoss"',
        )


def _check_text(field: str, value: str, limit: int, example: str) -> str:
    _check_unicode(field, value)
    value = value.strip()
    if not value:
        raise SilenceError(field, f"{field} is required; {example}")
    if len(value) > limit:
        raise SilenceError(field, f"{field} is longer than {limit} characters; shorten it")
    return value


class SilenceJournal(Protocol):
    """Where a book writes its changes (``monitor.store.silence_sqlite.SQLiteSilences``)."""

    def save(self, silence: Silence) -> None: ...

    def delete(self, ids: Iterable[str]) -> None: ...


def _new_id() -> str:
    return str(uuid.uuid4())


class SilenceBook:
    """The silences of one hopwatch; the dispatcher asks ``muting``, the API adds and expires.

    Changes replace the whole mapping (copy on write), so a reader on another thread always sees
    a consistent set without taking a lock."""

    def __init__(
        self,
        silences: Iterable[Silence] = (),
        *,
        journal: SilenceJournal | None = None,
        new_id: Callable[[], str] = _new_id,
        retention: float = RETENTION,
        max_duration: float = MAX_DURATION,
    ) -> None:
        self._by_id: dict[str, Silence] = {s.id: s for s in silences}
        self._journal = journal
        self._new_id = new_id
        self.retention = retention
        self.max_duration = max_duration

    def add(
        self,
        matchers: Sequence[Matcher],
        *,
        ends_at: float,
        created_by: str,
        comment: str,
        now: float,
        starts_at: float | None = None,
    ) -> Silence:
        """Validate and store a new silence; raises ``SilenceError`` naming the bad field."""
        _check_matchers(matchers)
        created_by = _check_text(
            "createdBy", created_by, MAX_CREATED_BY, "say who silences (e.g. your login)"
        )
        comment = _check_text(
            "comment", comment, MAX_COMMENT, "say why (e.g. a ticket or the maintenance)"
        )
        start = now if starts_at is None or starts_at < now else starts_at
        limit = format_duration(self.max_duration)
        if not math.isfinite(start) or start > now + self.max_duration:
            raise SilenceError(
                "startsAt",
                f"the silence starts more than {limit} from now; at most {limit} ahead is allowed",
            )
        if not math.isfinite(ends_at) or ends_at - start > self.max_duration:
            raise SilenceError(
                "endsAt",
                f"the silence would last more than {limit}; at most {limit} is allowed (add a "
                "new silence when it ends, or change the config for a lasting rule)",
            )
        if ends_at <= start:
            raise SilenceError(
                "endsAt",
                "the silence ends before it starts (or in the past); give an end after the "
                "start, or a positive duration",
            )
        if len(self._by_id) >= MAX_SILENCES:
            raise SilenceError(
                "matchers",
                f"there are already {MAX_SILENCES} silences; expire some, or use broader matchers",
            )
        silence = Silence(
            id=self._new_id(),
            matchers=tuple(matchers),
            starts_at=start,
            ends_at=float(ends_at),
            created_by=created_by,
            comment=comment,
            updated_at=now,
        )
        self._write(silence)
        return silence

    def expire(self, silence_id: str, now: float) -> Silence:
        """End a silence at ``now``; a pending one ends before it began. Expiring an expired
        silence changes nothing (idempotent). Raises ``UnknownSilence``."""
        silence = self.get(silence_id)
        state = silence.state(now)
        if state is SilenceState.EXPIRED:
            return silence
        start = now if state is SilenceState.PENDING else silence.starts_at
        expired = replace(silence, starts_at=start, ends_at=now, updated_at=now)
        self._write(expired)
        return expired

    def get(self, silence_id: str) -> Silence:
        try:
            return self._by_id[silence_id]
        except KeyError:
            raise UnknownSilence(silence_id) from None

    def list(self, now: float, states: Iterable[SilenceState] | None = None) -> tuple[Silence, ...]:
        """Silences in ``states`` (default all), active first, then pending, then expired; by
        end time within each (Alertmanager's ``amtool silence query`` order)."""
        wanted = set(SilenceState) if states is None else set(states)
        order = {SilenceState.ACTIVE: 0, SilenceState.PENDING: 1, SilenceState.EXPIRED: 2}
        found = [s for s in self._by_id.values() if s.state(now) in wanted]
        return tuple(sorted(found, key=lambda s: (order[s.state(now)], s.ends_at, s.id)))

    def muting(self, labels: Mapping[str, str], now: float) -> tuple[str, ...]:
        """Ids (sorted) of the silences active at ``now`` whose matchers all match ``labels``."""
        return tuple(sorted(s.id for s in self._by_id.values() if s.mutes(labels, now)))

    def gc(self, now: float) -> tuple[str, ...]:
        """Drop silences that expired more than ``retention`` ago; returns their ids."""
        old = tuple(sorted(i for i, s in self._by_id.items() if s.ends_at + self.retention <= now))
        if old:
            if self._journal is not None:
                self._journal.delete(old)
            self._by_id = {i: s for i, s in self._by_id.items() if i not in old}
        return old

    def __len__(self) -> int:
        return len(self._by_id)

    def _write(self, silence: Silence) -> None:
        if self._journal is not None:
            self._journal.save(silence)
        self._by_id = {**self._by_id, silence.id: silence}


__all__ = [
    "MAX_DURATION",
    "RETENTION",
    "Silence",
    "SilenceBook",
    "SilenceError",
    "SilenceJournal",
    "SilenceState",
    "UnknownSilence",
    "matcher_from_parts",
    "parse_silence_matcher",
    "stored_error",
]
