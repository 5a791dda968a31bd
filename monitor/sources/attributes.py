"""The attribute allow-list of one pipeline, applied to what clients send, memoised.

Clients send ``attributes`` as any JSON object. Keys outside the pipeline's allow-list are dropped
(whatever their value) and counted, so a chatty client never turns user data into label values;
allow-listed keys must have string values, since attributes are matched as text by ``where`` and
kept as bucket keys (``__other__`` is an ordinary value here: the ledger uses it for overflow).
``monitor.sources.push`` calls ``AttributeFilter`` from its hot loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.records import Attributes
from monitor.sources.limits import MAX_ATTRIBUTE_VALUE

__all__ = ["ATTRIBUTE_CACHE_SIZE", "AttributeFilter", "NotText"]

ATTRIBUTE_CACHE_SIZE: Final = 4096
"""Distinct attribute maps remembered per pipeline before the memo starts over (bounded memory)."""

_JSON_NAMES: Final = {
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
    list: "an array",
    dict: "an object",
}


@dataclass(frozen=True, slots=True)
class NotText:
    """An allow-listed attribute whose value is not a string (or is too long): the item is
    rejected (``field``)."""

    field: str
    message: str


class AttributeFilter:
    """Allow-list filtering of one pipeline's attribute maps, memoised.

    Attribute sets are few (a pipeline caps them at ``max_attribute_sets``), so most items map to a
    set already seen: ``memo`` hands back the same sorted tuple without building a new one. Only
    maps of allow-listed string values are memoised, so a memo hit never needs a drop to be
    counted or a value to be checked. Look up with ``tuple(raw.items())``; that raises
    ``TypeError`` for unhashable values (arrays, objects), which are never in the memo.
    """

    __slots__ = ("allowed", "memo")

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed
        self.memo: dict[tuple[tuple[str, Any], ...], Attributes] = {}

    def filter(self, raw: Mapping[str, Any]) -> tuple[Attributes, int] | NotText:
        """The allow-listed, sorted attributes and how many keys were dropped, or ``NotText``
        for the first allow-listed key whose value is not a string."""
        allowed = self.allowed
        kept: list[tuple[str, str]] = []
        for key, value in raw.items():
            if key not in allowed:
                continue
            if value.__class__ is not str:
                what = _JSON_NAMES.get(value.__class__, type(value).__name__)
                return NotText(
                    f"attributes.{key}",
                    f"attributes.{key}: expected a string, got {what}; allow-listed attribute "
                    "values are compared as text, so send them as JSON strings",
                )
            if len(value) > MAX_ATTRIBUTE_VALUE:
                return NotText(
                    f"attributes.{key}",
                    f"attributes.{key}: {len(value)} characters, longer than the "
                    f"{MAX_ATTRIBUTE_VALUE} allowed; attribute values are labels, keep them short",
                )
            kept.append((key, value))
        kept.sort()
        dropped = len(raw) - len(kept)
        attributes = tuple(kept)
        if not dropped:
            if len(self.memo) >= ATTRIBUTE_CACHE_SIZE:
                self.memo.clear()
            self.memo[tuple(raw.items())] = attributes
        return attributes, dropped
