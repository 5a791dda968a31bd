"""Local fake Slack, PagerDuty and webhook servers: real HTTP on 127.0.0.1, every request recorded.

For hopwatch's tests and its demo, and for users' own tests of their routing: nothing leaves the
machine. Each fake is a context manager that serves on a free loopback port in a thread
(``monitor.testing.serve_in_thread``) and answers like the real service for the calls hopwatch
makes. Faults are queued with ``fail_next`` and consumed one request at a time::

    with FakeSlack(token="xoxb-test") as slack:
        slack.fail_next(Fault.rate_limited(retry_after=1), Fault.server_error())
        ...  # point a SlackConfig at slack.api_url
        assert len(slack.posts) == 1

A hung request (``Fault.hang``) is answered only after its delay, with 503 and nothing delivered,
as a request the service never processed; so "exactly one delivered notification" can be counted
at the fake whatever the client's retries did.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.notification import Notification, Prior
from monitor.labels import labels_of
from monitor.testing import serve_in_thread

__all__ = [
    "FakeAsyncTime",
    "FakePagerDuty",
    "FakeSlack",
    "FakeWebhook",
    "Fault",
    "Recorded",
    "channel_id",
    "sample_alert",
    "sample_notification",
]


@dataclass(frozen=True)
class Fault:
    """What the next matching request gets instead of a normal answer."""

    status: int = 0
    retry_after: str | None = None
    delay: float = 0.0
    slack_error: str = ""
    body: Any = None

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> Fault:
        return cls(status=429, retry_after=str(retry_after))

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status=status)

    @classmethod
    def bad_request(cls, body: Any = None) -> Fault:
        return cls(status=400, body=body)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Answer only after ``seconds`` (longer than the client's timeout), then 503."""
        return cls(delay=seconds)

    @classmethod
    def slack(cls, error: str) -> Fault:
        """Slack's HTTP 200 with ``{"ok": false, "error": error}``."""
        return cls(slack_error=error)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    """Parsed JSON (or form fields, or text)."""
    fault: Fault | None = None


@dataclass
class _Queued:
    fault: Fault
    path: str | None


class _FakeServer:
    """Recording, fault injection and serving; subclasses add the routes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._faults: list[_Queued] = []
        self._stack: contextlib.ExitStack | None = None
        self.url = ""

    # -- test-facing ------------------------------------------------------------------------
    def fail_next(self, *faults: Fault, path: str | None = None) -> None:
        """Queue faults for the next requests (to ``path`` only, if given), one per request."""
        with self._lock:
            self._faults.extend(_Queued(f, path) for f in faults)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def count(self, path: str | None = None) -> int:
        """Requests received (to ``path``, if given), faulted ones included."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    def __enter__(self) -> Self:
        self._stack = contextlib.ExitStack()
        self.url = self._stack.enter_context(serve_in_thread(self._app()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            self._stack.close()

    # -- serving ----------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        raise NotImplementedError

    def _app(self) -> Starlette:
        return Starlette(routes=self._routes())

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, queued in enumerate(self._faults):
                if queued.path is None or queued.path == path:
                    return self._faults.pop(i).fault
        return None

    async def _receive(self, request: Request) -> tuple[Recorded, Response | None]:
        """Record the request; if a fault is queued for it, the response that fault gives."""
        raw = await request.body()
        body = _parse(raw, request.headers.get("content-type", ""))
        fault = self._take_fault(request.url.path)
        recorded = Recorded(
            request.method, request.url.path, dict(request.headers.items()), body, fault
        )
        with self._lock:
            self._requests.append(recorded)
        if fault is None:
            return recorded, None
        if fault.delay:
            await asyncio.sleep(fault.delay)
            if not fault.status:
                return recorded, PlainTextResponse("hung", status_code=503)
        if fault.slack_error:
            return recorded, JSONResponse({"ok": False, "error": fault.slack_error})
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        content = fault.body if fault.body is not None else {"error": f"injected {fault.status}"}
        return recorded, JSONResponse(content, status_code=fault.status, headers=headers)


def _parse(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text))
    try:
        return json.loads(text)
    except ValueError:
        return text


def channel_id(name: str) -> str:
    """The fake's stable channel id for a channel name (Slack answers with ids, not names)."""
    if name.startswith("C") and name[1:].isalnum() and name.isupper():
        return name
    return "C" + hashlib.sha1(name.lstrip("#").encode()).hexdigest()[:8].upper()


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A request's ``blocks``: a list as JSON sends it, or a string as a form post does."""
    blocks = body.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def _valid_blocks(blocks: list[dict[str, Any]]) -> bool:
    """Slack's limits: 50 blocks, 3,000 characters of section text, 150 of header text."""
    if len(blocks) > 50:
        return False
    limits = {"section": 3000, "header": 150}
    return all(
        len(str(b.get("text", {}).get("text", ""))) <= limits.get(str(b.get("type")), 3000)
        for b in blocks
        if isinstance(b, dict)
    )


@dataclass
class SlackPost:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)


class FakeSlack(_FakeServer):
    """Slack's Web API (``chat.postMessage``, ``chat.update``) and incoming webhooks.

    ``api_url`` is what a ``slack_configs`` ``api_url`` points at; ``webhook_url`` an incoming
    webhook. Messages are kept by (channel id, ts); ``ts`` increases with every post."""

    def __init__(self, token: str = "xoxb-fake-token") -> None:
        super().__init__()
        self.token = token
        self._messages: dict[tuple[str, str], SlackPost] = {}
        self._replies: list[SlackPost] = []
        self._webhook_posts: list[dict[str, Any]] = []
        self._seq = 0

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/chat.postMessage"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/services/T000/B000/XXXXXXXX"

    @property
    def posts(self) -> list[SlackPost]:
        """Top-level messages posted (not thread replies), in order."""
        with self._lock:
            return list(self._messages.values())

    @property
    def replies(self) -> list[SlackPost]:
        with self._lock:
            return list(self._replies)

    @property
    def webhook_posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._webhook_posts)

    def message(self, channel: str, ts: str) -> SlackPost | None:
        with self._lock:
            return self._messages.get((channel_id(channel), ts))

    def _routes(self) -> list[Route]:
        return [
            Route("/api/{method}", self._api, methods=["POST"]),
            Route("/services/{rest:path}", self._webhook, methods=["POST"]),
        ]

    async def _api(self, request: Request) -> Response:
        recorded, faulted = await self._receive(request)
        if faulted is not None:
            return faulted
        if request.headers.get("authorization") != f"Bearer {self.token}":
            error = "not_authed" if "authorization" not in request.headers else "invalid_auth"
            return JSONResponse({"ok": False, "error": error})
        body = recorded.body if isinstance(recorded.body, dict) else {}
        method = request.path_params["method"]
        if method == "chat.postMessage":
            return JSONResponse(self._post(body))
        if method == "chat.update":
            return JSONResponse(self._update(body))
        return JSONResponse({"ok": False, "error": "unknown_method"})

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        cid = channel_id(str(body["channel"]))
        blocks = _blocks(body)
        if not _valid_blocks(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        with self._lock:
            self._seq += 1
            ts = f"{1_700_000_000 + self._seq}.{self._seq:06d}"
            post = SlackPost(
                cid, ts, str(body.get("text", "")), blocks, str(body.get("thread_ts", ""))
            )
            if post.thread_ts:
                self._replies.append(post)
            else:
                self._messages[(cid, ts)] = post
        return {"ok": True, "channel": cid, "ts": ts, "message": {"text": post.text, "ts": ts}}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        cid = channel_id(str(body.get("channel", "")))
        ts = str(body.get("ts", ""))
        blocks = _blocks(body)
        if not _valid_blocks(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        with self._lock:
            post = self._messages.get((cid, ts))
            if post is None:
                return {"ok": False, "error": "message_not_found"}
            post.updates.append({"text": post.text, "blocks": post.blocks})
            post.text, post.blocks = str(body.get("text", "")), blocks
        return {"ok": True, "channel": cid, "ts": ts, "text": post.text}

    async def _webhook(self, request: Request) -> Response:
        recorded, faulted = await self._receive(request)
        if faulted is not None:
            return faulted
        if not isinstance(recorded.body, dict) or not (
            recorded.body.get("text") or recorded.body.get("blocks")
        ):
            return PlainTextResponse("no_text", status_code=400)
        with self._lock:
            self._webhook_posts.append(recorded.body)
        return PlainTextResponse("ok")


class FakePagerDuty(_FakeServer):
    """PagerDuty's Events API v2 (``POST /v2/enqueue``): validates events like PagerDuty does
    (400 ``invalid event`` with ``errors``), answers 202 with the ``dedup_key``, and keeps the
    state of each incident by ``dedup_key``."""

    SEVERITIES = frozenset({"critical", "error", "warning", "info"})

    def __init__(self) -> None:
        super().__init__()
        self._events: list[dict[str, Any]] = []
        self._incidents: dict[str, str] = {}
        self._seq = 0

    @property
    def enqueue_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    @property
    def events(self) -> list[dict[str, Any]]:
        """Accepted events, in order."""
        with self._lock:
            return list(self._events)

    @property
    def incidents(self) -> dict[str, str]:
        """``dedup_key`` → ``triggered`` | ``resolved``."""
        with self._lock:
            return dict(self._incidents)

    def _routes(self) -> list[Route]:
        return [Route("/v2/enqueue", self._enqueue, methods=["POST"])]

    @classmethod
    def problems(cls, event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event must be a JSON object"]
        errors = []
        if not event.get("routing_key"):
            errors.append("'routing_key' is missing or blank")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        if len(str(event.get("dedup_key", ""))) > 255:
            errors.append("'dedup_key' must be at most 255 characters")
        if action != "trigger":
            if not event.get("dedup_key"):
                errors.append("'dedup_key' is required for resolve and acknowledge")
            return errors
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing"]
        for key in ("summary", "source", "severity"):
            if not payload.get(key):
                errors.append(f"'payload.{key}' is missing or blank")
        if len(str(payload.get("summary", ""))) > 1024:
            errors.append("'payload.summary' must be at most 1024 characters")
        if payload.get("severity") and payload["severity"] not in cls.SEVERITIES:
            errors.append("'payload.severity' is invalid")
        if len(json.dumps(event)) > 512 * 1024:
            errors.append("event is larger than 512 KB")
        return errors

    async def _enqueue(self, request: Request) -> Response:
        recorded, faulted = await self._receive(request)
        if faulted is not None:
            return faulted
        event = recorded.body
        errors = self.problems(event)
        if errors:
            return JSONResponse(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status_code=400,
            )
        with self._lock:
            self._seq += 1
            key = str(event.get("dedup_key") or f"fake-{self._seq:08d}")
            self._events.append(event)
            action = event["event_action"]
            if action == "trigger":
                self._incidents[key] = "triggered"
            elif action == "resolve" and key in self._incidents:
                self._incidents[key] = "resolved"
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": key},
            status_code=202,
        )


class FakeWebhook(_FakeServer):
    """Any ``POST``: the JSON body is recorded (``payloads``) and answered 200."""

    def __init__(self) -> None:
        super().__init__()
        self._payloads: list[Any] = []

    @property
    def payloads(self) -> list[Any]:
        with self._lock:
            return list(self._payloads)

    def _routes(self) -> list[Route]:
        return [Route("/{rest:path}", self._post, methods=["POST"])]

    async def _post(self, request: Request) -> Response:
        recorded, faulted = await self._receive(request)
        if faulted is not None:
            return faulted
        with self._lock:
            self._payloads.append(recorded.body)
        return JSONResponse({"status": "ok"})


class FakeAsyncTime:
    """A clock and an async sleep that advances it without waiting: pass ``clock`` and ``sleep``
    to ``Clients`` (or ``ChannelLimiter``, ``with_retries``) and read ``sleeps`` afterwards.

    One timeline for all tasks (so a channel's pacing holds across them): concurrent retries add
    up their waits, so a test with several retrying integrations needs a generous deadline.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = float(start)
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def sample_alert(
    name: str = "HopwatchEdgeDataLoss",
    *,
    state: AlertState = AlertState.FIRING,
    starts_at: float = 1_700_000_000.0,
    ends_at: float | None = None,
    annotations: dict[str, str] | None = None,
    evidence: dict[str, Any] | None = None,
    **labels: str,
) -> Alert:
    """An alert for tests and the demo: ``pipeline=signup``, ``severity=page`` unless given."""
    given = {"alertname": name, "pipeline": "signup", "severity": "page", **labels}
    return Alert(
        labels=labels_of(given),
        annotations=labels_of(annotations or {}),
        state=state,
        starts_at=starts_at,
        ends_at=ends_at if state is AlertState.RESOLVED else None,
        evidence=evidence or {},
    )


def sample_notification(
    *alerts: Alert,
    receiver: str = "team-data",
    group_by: tuple[str, ...] = ("alertname", "pipeline"),
    at: float = 1_700_000_600.0,
    prior: Prior | None = None,
) -> Notification:
    """The notification of one group holding ``alerts`` (firing first, as the dispatcher orders)."""
    first = dict(alerts[0].labels) if alerts else {}
    group_labels = labels_of({k: first.get(k, "") for k in group_by})
    ordered = sorted(alerts, key=lambda a: a.state is not AlertState.FIRING)
    key = "{}/{}:{" + ", ".join(f'{k}="{v}"' for k, v in group_labels) + "}"
    return Notification(
        receiver=receiver,
        group_key=key,
        group_labels=group_labels,
        alerts=tuple(ordered),
        at=at,
        prior=prior,
    )
