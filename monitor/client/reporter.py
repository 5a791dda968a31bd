"""``HopReporter``: what a hop's service calls for every event it sees.

``observe()`` is built to cost about what a bare ``queue.put`` costs and never to raise: it puts
an unchecked tuple on a bounded buffer and returns. Everything that can be slow or fail
(checking, encoding, gzip, HTTP, retries) happens on the reporter's own background thread
(``monitor.client.sender``), so a slow, failing or absent hopwatch never slows or breaks the
pipeline; what cannot be delivered is counted (``stats()``), never raised.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Mapping
from datetime import datetime
from queue import Full
from typing import Any

import httpx

from monitor.client.buffer import HoldingQueue
from monitor.client.idhash import resolve_id_key
from monitor.client.retry import Backoff
from monitor.client.sender import Batching, BatchSender
from monitor.client.stats import ReporterStats, Tally
from monitor.client.transport import PATH, Delivery, Poster, resolve_token

__all__ = ["HopReporter"]

log = logging.getLogger("hopwatch.client")
_now = time.time

EventTime = float | int | datetime | str
"""Epoch seconds, a datetime (naive means UTC) or an RFC 3339 string."""


class HopReporter:
    """Reports the events one hop sees to hopwatch, in the background, in batches.

    Create one per (pipeline, hop) and process, and keep it for the life of the process (it
    holds a thread and a connection pool). ``observe`` is safe from any thread.

    - ``url``: hopwatch's base URL, e.g. ``http://127.0.0.1:9464``.
    - ``token``: the bearer token (scope ``push``); ``token_file``: a file holding it. With
      neither, ``$HOPWATCH_TOKEN`` when set (``resolve_token``), so deployments pass it from a
      secret, never from code or a command line. hopwatch refuses pushes without one unless
      its ``server.auth.open`` is set.
    - ``max_queue``: observations held while unsent, waiting or being retried; beyond it new
      ones are dropped and counted (``dropped_queue_full``). This is the memory bound and the
      outage the reporter can ride out: at 1,000 events/s, 60,000 hold one minute.
    - ``batch_size``: observations per request; a full batch is sent at once.
    - ``max_batch_bytes``: uncompressed body limit per request; keep it under hopwatch's
      ``server.max_body_size`` (a 413 splits the batch anyway).
    - ``flush_interval``: the longest an observation waits for its batch to fill.
    - ``timeout``: per request; a hanging hopwatch costs the sending thread this much per try.
    - ``backoff``: retry delays (exponential, full jitter); ``Retry-After`` wins when sent.
    - ``exit_timeout``: how long the ``atexit`` hook keeps trying to deliver at interpreter exit.
    - ``id_hash_key`` / ``id_hash_key_file``: a secret key (at least 16 bytes) for keyed hashing
      of event ids (``monitor.client.idhash``): each id is sent as ``k:`` + 32 hex digits of
      HMAC-SHA256, so hopwatch never sees the raw id. With neither, ``$HOPWATCH_ID_KEY`` when set.
      Every hop of a pipeline must use the same key (or all none), or the joins find nothing.
    - ``client``: an ``httpx.Client`` to use (proxies, TLS); the reporter does not close it.
    - ``url`` may instead be ``kafka://HOST:PORT[,HOST:PORT…]/TOPIC``: observations are then
      produced to hopwatch's observations topic, keyed by event id, for ``hopwatch run --mode
      worker`` (``client.kafka.KafkaPoster``; needs confluent-kafka); ``kafka_config`` adds
      librdkafka producer settings (TLS, SASL). ``timeout`` bounds the wait for the brokers.
    - ``rng``: randomness for the jitter (seed it in tests).
    """

    def __init__(
        self,
        url: str,
        pipeline: str,
        hop: str,
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        max_queue: int = 10_000,
        batch_size: int = 500,
        max_batch_bytes: int = 1 << 20,
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        backoff: Backoff | None = None,
        exit_timeout: float = 5.0,
        id_hash_key: str | bytes | None = None,
        id_hash_key_file: str | os.PathLike[str] | None = None,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
        kafka_config: Mapping[str, Any] | None = None,
    ) -> None:
        _check_settings(url, max_queue, batch_size, max_batch_bytes, flush_interval, timeout)
        self.pipeline = pipeline
        self.hop = hop
        self._url = url.rstrip("/") + PATH if not url.startswith(KAFKA_SCHEME) else url
        self._buffer = HoldingQueue(max_queue)
        self._put = functools.partial(self._buffer.put, block=False)
        self._waiting = self._buffer.queue
        self._batch_size = batch_size
        self._closed = False
        self._lock = threading.Lock()
        self._tally = Tally()
        batching = Batching(batch_size, max_batch_bytes, flush_interval, backoff or Backoff())
        token = resolve_token(token, token_file)
        id_hash = resolve_id_key(id_hash_key, id_hash_key_file)
        poster = _delivery(url, token, timeout, client, kafka_config)
        self._sender = BatchSender(
            self._buffer, poster, self._tally, self._lock, batching, rng or random.Random(), id_hash
        )
        self._wake = self._sender.wake
        self._exit_hook = functools.partial(_close_at_exit, weakref.ref(self), exit_timeout)
        atexit.register(self._exit_hook)
        self._sender.start()

    def __repr__(self) -> str:
        return f"HopReporter({self._url!r}, {self.pipeline!r}, {self.hop!r})"

    def __enter__(self) -> HopReporter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the hot path -------------------------------------------------------------------------

    def observe(
        self,
        event_id: str | None,
        event_type: str,
        event_time: EventTime,
        status: str = "ok",
        reason: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> bool:
        """Report that this hop saw an event; True when buffered, False when dropped (counted).

        Never blocks on I/O and never raises: wrong values are counted as ``dropped_invalid``
        when the batch is encoded. ``attributes`` is copied, so the caller may reuse it.
        """
        if self._closed:
            return self._drop("dropped_closed")
        try:
            self._put(
                (
                    self.pipeline,
                    self.hop,
                    event_id,
                    event_type,
                    event_time,
                    status,
                    reason,
                    None if attributes is None else dict(attributes),
                    _now(),
                )
            )
        except Full:
            return self._drop("dropped_queue_full")
        except Exception as exc:  # e.g. attributes that are not a mapping
            return self._drop("dropped_invalid", f"observe: {exc!r}")
        if len(self._waiting) >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def observe_at(
        self,
        pipeline: str,
        hop: str,
        event_id: str | None,
        event_type: str,
        event_time: EventTime,
        status: str = "ok",
        reason: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> bool:
        """``observe`` for another hop than the reporter's own: for a process that handles
        several hops with one reporter (the span processor uses it). Same guarantees."""
        if self._closed:
            return self._drop("dropped_closed")
        try:
            attrs = None if attributes is None else dict(attributes)
            self._put(
                (pipeline, hop, event_id, event_type, event_time, status, reason, attrs, _now())
            )
        except Full:
            return self._drop("dropped_queue_full")
        except Exception as exc:
            return self._drop("dropped_invalid", f"observe_at: {exc!r}")
        if len(self._waiting) >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def _drop(self, counter: str, detail: str | None = None) -> bool:
        """The rare path of ``observe``: count why an observation was not buffered."""
        try:
            with self._lock:
                setattr(self._tally, counter, getattr(self._tally, counter) + 1)
                if detail:
                    self._tally.last_error = detail
        except Exception:  # pragma: no cover - counting must not raise either
            pass
        return False

    # --- control ------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Send what was observed before this call now; True when all of it is settled (sent or
        dropped and counted) within ``timeout`` seconds. It cannot hurry a retry's backoff."""
        target = self._buffer.put_total
        self._wake.set()
        return self._buffer.wait_settled(target, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Stop accepting, try to deliver what is buffered for up to ``timeout`` seconds, count
        the rest as ``dropped_unsent`` and stop the thread. True when nothing was left over.

        Idempotent; later ``observe`` calls return False and count ``dropped_closed``.
        """
        first = not self._closed
        self._closed = True
        atexit.unregister(self._exit_hook)
        stopped = self._sender.stop(timeout) if first else not self._sender.thread.is_alive()
        if stopped:
            # Observations that slipped in while the thread was finishing.
            self._sender.settle(len(self._buffer.take(self._buffer.maxsize)), "dropped_unsent")
        return stopped and self.stats().dropped_unsent == 0 and self._buffer.unfinished_tasks == 0

    def stats(self) -> ReporterStats:
        """A consistent snapshot of the counters (``observed == sent + dropped + pending``)."""
        with self._lock:
            queued, pending = self._buffer.counts()
            return self._tally.snapshot(queued, pending)


def _close_at_exit(ref: weakref.ReferenceType[HopReporter], timeout: float) -> None:
    """The ``atexit`` hook: deliver what is buffered before the interpreter goes away."""
    reporter = ref()
    if reporter is not None:
        try:
            reporter.close(timeout)
        except Exception:  # pragma: no cover - never break interpreter shutdown
            log.exception("hopwatch client: closing at exit failed")


def _check_settings(
    url: str,
    max_queue: int,
    batch_size: int,
    max_batch_bytes: int,
    flush_interval: float,
    timeout: float,
) -> None:
    """Refuse impossible settings when the reporter is created (at startup), not later: a URL
    without a scheme would otherwise be retried forever as if hopwatch were down."""
    problems = (
        []
        if _is_http_url(url) or _is_kafka_url(url)
        else [f"url must be http(s)://host:port or kafka://host:port[,…]/topic, got {url!r}"]
    )
    problems += [
        f"{name} must be > 0, got {value!r}"
        for name, value in (
            ("max_queue", max_queue),
            ("batch_size", batch_size),
            ("max_batch_bytes", max_batch_bytes),
            ("flush_interval", flush_interval),
            ("timeout", timeout),
        )
        if not value > 0
    ]
    if problems:
        raise ValueError("HopReporter: " + "; ".join(problems))


KAFKA_SCHEME = "kafka://"


def _delivery(
    url: str,
    token: str | None,
    timeout: float,
    client: httpx.Client | None,
    kafka_config: Mapping[str, Any] | None,
) -> Delivery:
    """HTTP to hopwatch, or (a ``kafka://`` URL) the observations topic its workers read."""
    if url.startswith(KAFKA_SCHEME):
        from monitor.client.kafka import KafkaPoster

        servers, _, topic = url[len(KAFKA_SCHEME) :].partition("/")
        return KafkaPoster(servers, topic, timeout=timeout, config=kafka_config or {})
    return Poster(url, token=token, timeout=timeout, client=client)


def _is_kafka_url(url: object) -> bool:
    if not isinstance(url, str) or not url.startswith(KAFKA_SCHEME):
        return False
    servers, _, topic = url[len(KAFKA_SCHEME) :].partition("/")
    return (
        bool(topic)
        and "/" not in topic
        and all(h.rpartition(":")[0] and h.rpartition(":")[2].isdigit() for h in servers.split(","))
    )


def _is_http_url(url: object) -> bool:
    try:
        parsed = httpx.URL(url)  # type: ignore[arg-type]
    except (TypeError, httpx.InvalidURL):
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)
