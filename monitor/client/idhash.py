"""Keyed hashing of event ids, so hopwatch never needs (or stores) the raw id.

Event ids can identify a person (a user id, an email, an order number). hopwatch only ever
*compares* ids, to join the sightings of one event at successive hops, so any function that maps
the same raw id to the same token at every hop keeps every join, every duplicate count and every
forbidden-flow check exact. A keyed hash (HMAC-SHA256) is such a function that nobody without the
key can invert or rebuild by hashing guessed ids, which a plain hash would allow.

Every hop of a pipeline must use the same key: a hop with another key (or none) shares no ids
with the others, and its edges report all events as missing. The token is ``k:`` and the first
32 hex digits (128 bits) of the HMAC: collisions are out of reach at any realistic volume, and
the prefix (``k:`` for keyed, unlike the ``h:`` of ids known only by their join hash in
leak alerts) makes hashing idempotent, so an id hashed by the client and passed through an agent
that also hashes stays the same token. Raw ids that happen to look like ``k:`` + 32 hex digits
are taken as already hashed; do not use that shape for raw ids.

Standard library only, in ``monitor.client`` (which must not pull in the daemon); the agent
imports it from here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["HASH_PREFIX", "ID_KEY_ENV", "IdHasher", "resolve_id_key"]

ID_KEY_ENV: Final = "HOPWATCH_ID_KEY"
"""The environment variable a key is read from when no key or key file is given."""

HASH_PREFIX: Final = "k:"
HEX_DIGITS: Final = 32
_HEX: Final = frozenset("0123456789abcdef")
MIN_KEY_BYTES: Final = 16
"""A shorter key can be found by trying keys; refuse it at startup rather than run weakly."""


class IdHasher:
    """Maps a raw event id to ``k:`` + 32 hex digits of HMAC-SHA256(key, id); idempotent."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"id hash key: at least {MIN_KEY_BYTES} bytes, got {len(key)} "
                "(e.g. `openssl rand -hex 32`)"
            )
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return "IdHasher(<key>)"

    def __call__(self, event_id: str) -> str:
        if is_hashed(event_id):
            return event_id
        digest = hmac.new(self._key, event_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:HEX_DIGITS]


def is_hashed(event_id: str) -> bool:
    """Whether ``event_id`` already is a token of this module (so it is not hashed twice)."""
    return (
        len(event_id) == len(HASH_PREFIX) + HEX_DIGITS
        and event_id.startswith(HASH_PREFIX)
        and _HEX.issuperset(event_id[len(HASH_PREFIX) :])
    )


def resolve_id_key(
    key: str | bytes | None = None,
    key_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> IdHasher | None:
    """The hasher for ``key``, else the contents of ``key_file``, else ``$HOPWATCH_ID_KEY``;
    None (raw ids) when none is set. Surrounding whitespace of a file or variable is ignored
    (files end with a newline). A key file that cannot be read, or a blank or short key, raises:
    a misconfigured key must fail at startup, not silently send raw ids or unjoinable tokens."""
    if key is None and key_file is not None:
        key = Path(key_file).read_text(encoding="utf-8").strip()
        if not key:
            raise ValueError(f"id hash key file {key_file} is empty")
    if key is None:
        env = os.environ if environ is None else environ
        key = env.get(ID_KEY_ENV, "").strip() or None
    if key is None:
        return None
    return IdHasher(key.encode("utf-8") if isinstance(key, str) else key)
