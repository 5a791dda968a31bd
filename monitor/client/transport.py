"""One POST of one batch to hopwatch, classified into what the sending loop should do next.

The classification is the whole retry policy (the ``Retrier`` idea from Alertmanager): only
answers that may succeed later are retried (network errors, timeouts, 408, 429, 5xx); a 4xx says
the batch itself or the client's setup is wrong and sending it again cannot help, so its items
are counted as rejected. A 413 is its own verdict because a smaller batch can succeed.
"""

from __future__ import annotations

import enum
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from monitor.client.retry import parse_retry_after
from monitor.client.wire import CONTENT_TYPE, gzip_body

__all__ = ["Answer", "Delivery", "Poster", "Verdict", "classify"]

PATH = "/v1/observations"
RETRYABLE_4XX = frozenset({408, 429})


class Verdict(enum.StrEnum):
    """What became of one attempt."""

    DELIVERED = "delivered"
    """hopwatch answered 2xx; its body says how many items it accepted."""
    RETRY = "retry"
    """Worth sending again later: hopwatch is down, slow, overloaded or failing."""
    REJECTED = "rejected"
    """hopwatch refused the batch as a whole (400, 401, 404, 415, …): never sent again."""
    TOO_LARGE = "too_large"
    """413: the body is over ``server.max_body_size``; split it and send the halves."""


@dataclass(frozen=True)
class Answer:
    """One attempt's outcome. ``accepted`` is meaningful for ``DELIVERED`` only."""

    verdict: Verdict
    accepted: int = 0
    retry_after: float | None = None
    detail: str = ""


class Delivery(Protocol):
    """Where the sending loop's batches go: ``Poster`` (HTTP) or ``client.kafka.KafkaPoster``."""

    def prepare(self, lines: Sequence[bytes]) -> Any:
        """One batch, made once for all its attempts."""

    def post(self, body: Any, items: int, key: str | None = None) -> Answer:
        """One attempt; never raises."""

    def close(self) -> None: ...


class Poster:
    """Posts gzip NDJSON bodies to ``{url}/v1/observations`` with one pooled ``httpx.Client``.

    Pass ``client`` to reuse a configured one (proxies, TLS, a test transport); the reporter then
    leaves closing it to the caller.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        timeout: float,
        client: httpx.Client | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + PATH
        self.headers = {
            "Content-Type": CONTENT_TYPE,
            "Content-Encoding": "gzip",
            "User-Agent": "hopwatch-client",
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._owned = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._timeout = timeout

    def prepare(self, lines: Sequence[bytes]) -> bytes:
        """One batch's body, made once for all its retries: gzip NDJSON."""
        return gzip_body(lines)

    def post(self, body: bytes, items: int, key: str | None = None) -> Answer:
        """Send one body of ``items`` observations; never raises. ``key`` (the same on every
        retry of one batch) lets hopwatch answer a retry of a batch it already took without
        counting it twice."""
        headers = self.headers if key is None else {**self.headers, "Idempotency-Key": key}
        try:
            response = self._client.post(
                self.endpoint, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            return Answer(Verdict.RETRY, detail=f"no answer within {self._timeout} s ({exc!r})")
        except (httpx.HTTPError, OSError) as exc:
            return Answer(Verdict.RETRY, detail=f"{type(exc).__name__}: {exc}")
        return classify(response.status_code, response.headers, response.content, items)

    def close(self) -> None:
        if self._owned:
            self._client.close()


def classify(status: int, headers: httpx.Headers, content: bytes, items: int) -> Answer:
    """The verdict on an HTTP answer to a batch of ``items`` observations."""
    if 200 <= status < 300:
        accepted, first_error = _accepted(content, items)
        return Answer(Verdict.DELIVERED, accepted=accepted, detail=first_error)
    detail = f"HTTP {status}: {_error_text(content)}"
    if status >= 500 or status in RETRYABLE_4XX:
        retry_after = parse_retry_after(headers.get("retry-after"), time.time())
        return Answer(Verdict.RETRY, retry_after=retry_after, detail=detail)
    if status == 413:
        return Answer(Verdict.TOO_LARGE, detail=detail)
    return Answer(Verdict.REJECTED, detail=detail)


def _accepted(content: bytes, items: int) -> tuple[int, str]:
    """How many items hopwatch kept, and why the first refused one was refused (its 202 says
    ``{"accepted": n, "rejected": m, "errors": [...]}``); all of them when the answer does not
    say (a proxy's empty 200)."""
    payload = _json(content)
    if not isinstance(payload, dict):
        return items, ""
    accepted = payload.get("accepted")
    errors = payload.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    detail = f"item rejected: {first.get('message')}" if isinstance(first, dict) else ""
    if isinstance(accepted, int) and not isinstance(accepted, bool) and 0 <= accepted <= items:
        return accepted, detail
    return items, detail


def _error_text(content: bytes) -> str:
    """hopwatch's ``{"error", "hint"}`` as one line, or the start of whatever else was sent."""
    payload = _json(content)
    if isinstance(payload, dict) and "error" in payload:
        hint = payload.get("hint")
        return f"{payload['error']} ({hint})" if hint else str(payload["error"])
    return content[:200].decode("utf-8", "replace") or "(empty body)"


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


TOKEN_ENV = "HOPWATCH_TOKEN"


def resolve_token(
    token: str | None,
    token_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The bearer token to send: ``token``, else the contents of ``token_file``, else
    ``$HOPWATCH_TOKEN``; None when none is set. A file that cannot be read raises (a
    misconfigured secret should fail at startup, not as a stream of 401s)."""
    if token:
        return token
    if token_file is not None:
        return Path(token_file).read_text(encoding="utf-8").strip() or None
    env = os.environ if environ is None else environ
    return env.get(TOKEN_ENV, "").strip() or None
