"""Slack: one Block Kit message per alert group, updated in place on change and on resolve.

API mode (a bot token and ``…/api/chat.postMessage``) posts the group's first message with
``chat.postMessage`` and from then on rewrites it with ``chat.update`` (the channel and ``ts``
come back from the notification log as ``notification.prior.state``, this integration's own), optionally with a short thread
reply saying what changed. If the message is gone (``message_not_found``) a new one is posted.
Incoming-webhook mode can only post, so every change is a new message.

Failures are classified, never raised: Slack's ``ok: false`` errors (``invalid_auth``,
``channel_not_found`` …) fail for good as ``slack_<error>``; 429, 5xx, timeouts and connection
errors are ``retry``. A 429 whose ``Retry-After`` is short is retried at once by slack_sdk's
``AsyncRateLimitErrorRetryHandler`` (with the sleep passed in); a longer one is handed back with
``retry_after`` for the caller's retry loop. Posts are paced per channel (``ChannelLimiter``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.notify import http, resolved
from monitor.notify.ratelimit import ChannelLimiter, Sleep
from monitor.notify.slack_blocks import SlackMessage, render_message, thread_reply
from monitor.routing.model import SlackConfig, SlackMode

if TYPE_CHECKING:
    from monitor.notify.clients import Clients

POST_METHOD = "chat.postMessage"
GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""``chat.update`` errors after which a new message is posted instead."""
RETRY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
"""Slack ``ok: false`` errors that a later attempt can fix."""
CHANNEL, TS = "channel", "ts"
"""The keys of this integration's ``Delivery.state`` / ``Prior.state``: the message to update."""
_ERROR_NAME = re.compile(r"[^a-z0-9_]")
log = logging.getLogger("hopwatch.notify.slack")


def error_reason(error: str) -> str:
    """``slack_<error>``, bounded and safe for a metric label."""
    return "slack_" + (_ERROR_NAME.sub("_", error.lower())[:48] or "unknown")


def api_base_url(api_url: str) -> str:
    """slack_sdk's ``base_url`` from Alertmanager's ``api_url`` (``…/api/chat.postMessage``)."""
    base = api_url.removesuffix(POST_METHOD)
    return base if base.endswith("/") else base + "/"


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, with the sleep and jitter passed in and a cap on the wait.

    A ``Retry-After`` longer than ``max_wait`` is not waited out inside one delivery attempt:
    the 429 is returned as ``retry`` with ``retry_after`` so the caller's loop decides.
    """

    def __init__(
        self, sleep: Sleep, max_wait: float = 5.0, jitter: Callable[[], float] = random.random
    ) -> None:
        super().__init__(max_retry_count=1)
        self._sleep, self._max_wait, self._jitter = sleep, max_wait, jitter

    @staticmethod
    def _after(response: HttpResponse | None) -> float | None:
        for key, values in (response.headers if response else {}).items():
            if key.lower() == "retry-after":
                return http.parse_retry_after(values[0] if isinstance(values, list) else values)
        return None

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        ):
            return False
        after = self._after(response)
        return after is None or after <= self._max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        after = self._after(response)
        await self._sleep((1.0 if after is None else after) + self._jitter())
        state.increment_current_attempt()


def _from_api_error(exc: SlackApiError) -> tuple[Delivery, str]:
    """The delivery a Slack API error means, and Slack's error code (``""`` if not an ok:false)."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    if status == 200 and isinstance(data, dict):
        error = str(data.get("error") or "unknown")
        outcome = Outcome.RETRY if error in RETRY_ERRORS else Outcome.FAILED
        return Delivery(outcome, error_reason(error)), error
    headers = {k.lower(): v for k, v in dict(getattr(response, "headers", {}) or {}).items()}
    return http.from_status(status, headers), ""


def _from_exception(exc: BaseException) -> Delivery:
    if isinstance(exc, TimeoutError):
        return Delivery(Outcome.RETRY, "timeout")
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        return Delivery(Outcome.RETRY, "connection")
    return Delivery(Outcome.FAILED, "error", detail={"error": type(exc).__name__})


class SlackNotifier:
    """Sends notifications to Slack. One per process (it holds no per-group state); the
    ``limiter`` is shared so every integration posting to a channel is paced together."""

    def __init__(
        self,
        *,
        limiter: ChannelLimiter,
        http_client: httpx.AsyncClient,
        timeout: float = 10.0,
        sleep: Sleep = asyncio.sleep,
        max_inline_wait: float = 5.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._limiter = limiter
        self._http = http_client
        self._timeout = timeout
        self._sleep = sleep
        self._max_inline_wait = max_inline_wait
        self._jitter = jitter

    async def send(
        self, notification: Notification, config: SlackConfig, environ: Mapping[str, str]
    ) -> Delivery:
        shown = resolved.shown(notification, config.send_resolved)
        if not shown.alerts:
            return resolved.skipped()
        try:
            url = config.api_url.reveal(environ)
            token = (
                config.token.reveal(environ)
                if config.mode is SlackMode.API and config.token
                else ""
            )
        except LookupError:
            return Delivery(Outcome.FAILED, "secret")
        message = render_message(shown, config.title)
        if config.mode is SlackMode.WEBHOOK:
            return await self._post_webhook(url, message, shown, config)
        if not token:
            return Delivery(Outcome.FAILED, "secret")
        client = AsyncWebClient(
            token=token,
            base_url=api_base_url(url),
            timeout=self._timeout,  # type: ignore[arg-type]
            retry_handlers=[RateLimitRetry(self._sleep, self._max_inline_wait, self._jitter)],
        )
        return await self._send_api(client, message, shown, config)

    async def _send_api(
        self,
        client: AsyncWebClient,
        message: SlackMessage,
        notification: Notification,
        config: SlackConfig,
    ) -> Delivery:
        prior = notification.prior.state if notification.prior is not None else {}
        prior_ts = prior.get(TS, "")
        if prior_ts and config.update_on_change:
            channel = prior.get(CHANNEL) or config.channel
            await self._limiter.acquire(config.channel, config.per_channel_rate)
            data, failed, error = await _call(
                client.chat_update(channel=channel, ts=prior_ts, **message.as_json())
            )
            if failed is None:
                delivery = Delivery(
                    Outcome.SENT, state=_state(str(data.get("channel") or channel), prior_ts)
                )
                if config.thread_replies:
                    delivery = await self._reply(client, notification, config, delivery)
                return delivery
            if error not in GONE_ERRORS:
                return failed
            log.info(
                "slack message to update is gone; posting a new one",
                extra={"receiver": notification.receiver, "slack_error": error},
            )
        await self._limiter.acquire(config.channel, config.per_channel_rate)
        data, failed, _ = await _call(
            client.chat_postMessage(channel=config.channel, **message.as_json())
        )
        if failed is not None:
            return failed
        return Delivery(
            Outcome.SENT,
            state=_state(str(data.get("channel") or config.channel), str(data.get("ts") or "")),
        )

    async def _reply(
        self,
        client: AsyncWebClient,
        notification: Notification,
        config: SlackConfig,
        delivery: Delivery,
    ) -> Delivery:
        """A short reply in the message's thread saying what changed; its failure is only noted."""
        text = thread_reply(notification)
        if text is None:
            return delivery
        await self._limiter.acquire(config.channel, config.per_channel_rate)
        _, failed, _ = await _call(
            client.chat_postMessage(
                channel=delivery.state[CHANNEL], thread_ts=delivery.state[TS], text=text
            )
        )
        if failed is None:
            return delivery
        return replace(delivery, detail={**delivery.detail, "thread_reply": failed.reason})

    async def _post_webhook(
        self, url: str, message: SlackMessage, notification: Notification, config: SlackConfig
    ) -> Delivery:
        await self._limiter.acquire(config.channel or "webhook", config.per_channel_rate)
        delivery, response = await http.post_json(
            self._http, url, message.as_json(), timeout=self._timeout, now=notification.at
        )
        if delivery.outcome is Outcome.FAILED and response is not None:
            # Incoming webhooks answer errors as a plain word: ``invalid_blocks``, ``no_service``.
            word = response.text.strip()
            if word and re.fullmatch(r"[a-z_]{1,48}", word):
                delivery = replace(delivery, reason=error_reason(word))
        if delivery.outcome is Outcome.SENT:
            delivery = replace(delivery, state={CHANNEL: config.channel} if config.channel else {})
        return delivery


async def _call(request: Any) -> tuple[dict[str, Any], Delivery | None, str]:
    """Await one Web API call: ``(data, None, "")`` on success, else the failure and Slack's error."""
    try:
        response = await request
    except SlackApiError as exc:
        failed, error = _from_api_error(exc)
        return {}, failed, error
    except SlackClientError as exc:
        return {}, Delivery(Outcome.FAILED, "error", detail={"error": type(exc).__name__}), ""
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        return {}, _from_exception(exc), ""
    data = response.data if isinstance(response.data, dict) else {}
    return data, None, ""


def _state(channel: str, ts: str) -> dict[str, str]:
    """The message's handle for the notification log (empty values left out)."""
    return {k: v for k, v in ((CHANNEL, channel), (TS, ts)) if v}


class _Slack:
    """The registry's Slack notifier: a ``SlackNotifier`` over the shared clients."""

    name = "slack"
    receiver = None  # SlackSpec still lives in monitor/routing/spec.py

    async def notify(
        self,
        notification: Notification,
        config: SlackConfig,
        environ: Mapping[str, str],
        clients: Clients,
    ) -> Delivery:
        slack = SlackNotifier(
            limiter=clients.limiter,
            http_client=clients.http,
            timeout=clients.timeout,
            sleep=clients.sleep,
            max_inline_wait=clients.max_inline_wait,
            jitter=clients.random,
        )
        return await slack.send(notification, config, environ)


NOTIFIER = _Slack()
