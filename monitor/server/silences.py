"""``/api/v1/silences``: create, list, read and expire silences over HTTP.

The request body is Alertmanager API v2's ``PostableSilence`` (``matchers``, ``startsAt``,
``endsAt``, ``createdBy``, ``comment``) with two conveniences: a matcher may be a string in
Alertmanager's syntax (``edge="a->b"``), and ``duration`` (``2h``) may stand in for ``endsAt``.
Responses are ``GettableSilence`` objects. Everything about what makes a silence valid lives in
``monitor.routing.silence``; this module parses JSON and RFC 3339 at the edge.

Writes (POST, DELETE) need a token with the ``admin`` scope (``monitor/server/auth.py``, in front of
every route); reads need ``read``, open unless the config says otherwise. Errors are ``{"error", "field", "hint"}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.routing.model import Matcher, MatchOp
from monitor.routing.silence import (
    Silence,
    SilenceBook,
    SilenceError,
    SilenceState,
    UnknownSilence,
    matcher_from_parts,
    parse_silence_matcher,
    stored_error,
)
from monitor.server.body import read_body
from monitor.server.problems import json_response
from monitor.server.runtime import Runtime
from monitor.sources.limits import clip, clip_message, nesting_error
from monitor.timeutil import parse_duration

log = logging.getLogger("hopwatch.server")

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 8
"""JSON nesting of a silence body (a PostableSilence needs 3 levels); checked before parsing."""
FIELDS = frozenset({"matchers", "startsAt", "endsAt", "duration", "createdBy", "comment"})
MATCHER_FIELDS = frozenset({"name", "value", "isRegex", "isEqual"})


def rfc3339(at: float) -> str:
    """``2024-05-01T12:00:00Z`` (milliseconds when there are any)."""
    stamp = datetime.fromtimestamp(at, UTC)
    text = stamp.isoformat(timespec="milliseconds" if stamp.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_rfc3339(text: object, field: str) -> float:
    if isinstance(text, str):
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is not None:
            return stamp.timestamp()
    raise SilenceError(
        field, f"{text!r} is not an RFC 3339 time with a zone; e.g. 2024-05-01T12:00:00Z"
    )


def matcher_json(m: Matcher) -> dict[str, Any]:
    return {
        "name": m.name,
        "value": m.value,
        "isRegex": m.op in (MatchOp.RE, MatchOp.NRE),
        "isEqual": m.op in (MatchOp.EQ, MatchOp.RE),
    }


def silence_json(s: Silence, now: float) -> dict[str, Any]:
    """Alertmanager's ``GettableSilence``."""
    return {
        "id": s.id,
        "status": {"state": str(s.state(now))},
        "updatedAt": rfc3339(s.updated_at),
        "matchers": [matcher_json(m) for m in s.matchers],
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    }


def _error(status: int, error: str, field: str | None, hint: str) -> Response:
    return json_response({"error": error, "field": field, "hint": hint}, status)


def _matcher(item: object, i: int) -> Matcher:
    field = f"matchers[{i}]"
    if isinstance(item, str):
        return parse_silence_matcher(item, field)
    if not isinstance(item, dict):
        raise SilenceError(field, 'a matcher is a string (edge="a->b") or an object')
    unknown = sorted(set(item) - MATCHER_FIELDS)
    if unknown:
        raise SilenceError(
            f"{field}.{unknown[0]}",
            f"unknown field {unknown[0]!r}; a matcher object has name, value, isRegex, isEqual",
        )
    name, value = item.get("name"), item.get("value")
    is_regex, is_equal = item.get("isRegex", False), item.get("isEqual", True)
    if not isinstance(name, str) or not name:
        raise SilenceError(f"{field}.name", "name is required and must be a string")
    if not isinstance(value, str):
        raise SilenceError(f"{field}.value", "value is required and must be a string")
    for key, flag in (("isRegex", is_regex), ("isEqual", is_equal)):
        if not isinstance(flag, bool):
            raise SilenceError(f"{field}.{key}", f"{key} must be true or false")
    return matcher_from_parts(name, value, is_regex=is_regex, is_equal=is_equal, field=field)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise SilenceError(key, f"{key} must be a string")
    return value


def create_silence(book: SilenceBook, body: object, now: float) -> Silence:
    """Map a ``PostableSilence`` to ``SilenceBook.add``; raises ``SilenceError``."""
    if not isinstance(body, dict):
        raise SilenceError("", "the body must be a JSON object (a PostableSilence)")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise SilenceError(
            unknown[0],
            f"unknown field {unknown[0]!r}; a silence has {', '.join(sorted(FIELDS))}",
        )
    raw = body.get("matchers")
    if not isinstance(raw, list):
        raise SilenceError("matchers", 'matchers must be a list, e.g. ["edge=\\"a->b\\""]')
    matchers = [_matcher(item, i) for i, item in enumerate(raw)]
    starts_at = None
    if body.get("startsAt") is not None:
        starts_at = parse_rfc3339(body["startsAt"], "startsAt")
    has_end, has_duration = body.get("endsAt") is not None, body.get("duration") is not None
    if has_end == has_duration:
        raise SilenceError(
            "endsAt", "give either endsAt (an RFC 3339 time) or duration (e.g. 2h), exactly one"
        )
    if has_end:
        ends_at = parse_rfc3339(body["endsAt"], "endsAt")
    else:
        text = body["duration"]
        try:
            if not isinstance(text, str):
                raise ValueError(f"{text!r} is not a string; use a duration such as 2h")
            seconds = parse_duration(text)
        except ValueError as err:
            raise SilenceError("duration", str(err)) from None
        ends_at = max(now, starts_at or now) + seconds
    return book.add(
        matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=_text(body, "createdBy"),
        comment=_text(body, "comment"),
        now=now,
    )


class SilenceApi:
    """Handlers bound to a runtime; the book is ``runtime.silences``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.unservable: set[str] = set()
        """Ids of silences skipped from listings (each logged once)."""

    @property
    def book(self) -> SilenceBook:
        return self.runtime.silences

    def _now(self) -> float:
        now = self.runtime.clock.now()
        self.book.gc(now)
        return now

    async def create(self, request: Request) -> Response:
        raw = await read_body(request, MAX_BODY_BYTES)
        nesting = nesting_error(raw, MAX_DEPTH)
        if nesting is not None:
            return _error(400, nesting, None, "send a PostableSilence: a flat JSON object")
        try:
            body = json.loads(raw)
        except ValueError as err:
            return _error(400, f"body is not JSON: {clip(str(err))}", None, "send a JSON object")
        now = self._now()
        try:
            silence = create_silence(self.book, body, now)
        except SilenceError as err:
            return _error(
                400,
                clip_message(err.message),
                clip(err.field) or None,
                "fix that field and send the silence again",
            )
        response = json_response(silence_json(silence, now), 201)
        response.headers["Location"] = f"/api/v1/silences/{silence.id}"
        return response

    async def list_silences(self, request: Request) -> Response:
        states: list[SilenceState] = []
        for value in request.query_params.getlist("state"):
            for part in filter(None, value.split(",")):
                if part not in SilenceState.__members__.values():
                    return _error(
                        400,
                        f"state {part!r} is not a silence state",
                        "state",
                        "use active, pending or expired (repeat or comma-separate for several)",
                    )
                states.append(SilenceState(part))
        now = self._now()
        found = self.book.list(now, states or None)
        return json_response(self._servable(found, now))

    def _servable(self, found: Iterable[Silence], now: float) -> list[dict[str, Any]]:
        """Each silence as JSON, skipping (logging once, counting) one that cannot be written:
        one bad stored row must not take the whole listing, and ``hopwatch silence list``
        with it, down."""
        out = []
        for silence in found:
            why = stored_error(silence)
            if why is None:
                try:
                    out.append(msgspec.json.decode(msgspec.json.encode(silence_json(silence, now))))
                    continue
                except (ValueError, OverflowError, msgspec.EncodeError) as exc:
                    why = str(exc)
            if silence.id not in self.unservable:
                log.warning("silence %s cannot be listed: %s", clip(silence.id), clip_message(why))
            self.unservable.add(silence.id)
        return out

    async def get(self, request: Request) -> Response:
        now = self._now()
        try:
            silence = self.book.get(request.path_params["silence_id"])
        except UnknownSilence as err:
            return _not_found(str(err))
        served = self._servable([silence], now)
        if not served:
            return _error(
                500,
                f"silence {clip(silence.id)!r} is stored damaged and cannot be shown",
                "id",
                "expire it (DELETE) and add it again",
            )
        return json_response(served[0])

    async def expire(self, request: Request) -> Response:
        now = self._now()
        try:
            self.book.expire(request.path_params["silence_id"], now)
        except UnknownSilence as err:
            return _not_found(str(err))
        return Response(status_code=204)


def _not_found(silence_id: str) -> Response:
    return _error(
        404,
        f"no silence {clip(silence_id)!r}",
        "id",
        "list silences with GET /api/v1/silences (expired ones are kept for 5 days)",
    )


def silence_routes(runtime: Runtime) -> list[Route]:
    api = SilenceApi(runtime)
    return [
        Route("/api/v1/silences", api.list_silences, methods=["GET"]),
        Route("/api/v1/silences", api.create, methods=["POST"]),
        Route("/api/v1/silences/{silence_id}", api.get, methods=["GET"]),
        Route("/api/v1/silences/{silence_id}", api.expire, methods=["DELETE"]),
    ]
