"""Microsoft Teams (``msteamsv2_configs``) against a fake Workflows webhook over real HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.alerting.notification import Delivery, Outcome
from monitor.notify.dispatch import Clients, deliver
from monitor.notify.msteamsv2 import CARD, SCHEMA, MSTeamsV2Config, payload
from monitor.routing.load import load_routing_file
from monitor.routing.model import Receiver, Secret
from monitor.testing_fakes import (
    FakeAsyncTime,
    Fault,
    _FakeServer,
    sample_alert,
    sample_notification,
)
from tests.notify_support import run

GOLDEN = Path(__file__).parent / "golden" / "notify" / "msteamsv2_firing.json"


class FakeTeams(_FakeServer):
    """A Workflows webhook: a JSON message with one Adaptive Card is answered 202, else 400."""

    def _routes(self) -> list[Route]:
        return [Route("/workflows/{rest:path}", self._post, methods=["POST"])]

    async def _post(self, request: Request) -> Response:
        recorded, faulted = await self._receive(request)
        if faulted is not None:
            return faulted
        ok = request.headers.get("content-type") == "application/json" and _is_card(recorded.body)
        return Response(status_code=202 if ok else 400)


def _is_card(body: Any) -> bool:
    try:
        [attachment] = body["attachments"]
        content = attachment["content"]
        return (
            body["type"] == "message"
            and attachment["contentType"] == CARD
            and attachment["contentUrl"] is None
            and content["$schema"] == SCHEMA
            and (content["type"], content["version"]) == ("AdaptiveCard", "1.2")
            and all(b["type"] == "TextBlock" and b["text"] for b in content["body"])
        )
    except (KeyError, TypeError, ValueError):
        return False


def config(teams: FakeTeams, **kw: Any) -> MSTeamsV2Config:
    return MSTeamsV2Config(Secret(value=f"{teams.url}/workflows/abc?sig=SECRET"), **kw)


def send(teams: FakeTeams, cfg: MSTeamsV2Config, timeout: float = 2.0) -> Delivery:
    async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
        receiver = Receiver("team", (cfg,))
        [(name, delivery)] = await deliver(
            sample_notification(sample_alert()), receiver, {}, clients
        )
        assert name == "msteamsv2[0]"
        return delivery

    return run(body, timeout=timeout)


def test_a_group_is_posted_as_an_adaptive_card_and_202_is_sent() -> None:
    with FakeTeams() as teams:
        delivery = send(teams, config(teams))
    assert (delivery.outcome, delivery.state) == (Outcome.SENT, {})
    [request] = teams.requests
    assert _is_card(request.body)
    title, text = request.body["attachments"][0]["content"]["body"]
    assert title["text"].startswith("[FIRING:1]") and "FIRING" in text["text"]


@pytest.mark.parametrize(
    ("faults", "outcome", "reason", "attempts"),
    [
        ([Fault.rate_limited(3)], Outcome.SENT, "", 2),
        ([Fault.server_error(503), Fault.server_error(500)], Outcome.SENT, "", 3),
        ([Fault.bad_request()], Outcome.FAILED, "http_400", 1),
        ([Fault.hang(5.0)], Outcome.SENT, "", 2),
    ],
    ids=[
        "429 is retried after its Retry-After",
        "5xx is retried",
        "any other 4xx fails at once",
        "a timeout is retried",
    ],
)
def test_failures_are_classified(
    faults: list[Fault], outcome: Outcome, reason: str, attempts: int
) -> None:
    with FakeTeams() as teams:
        teams.fail_next(*faults)
        delivery = send(teams, config(teams), timeout=0.5)
    assert (delivery.outcome, delivery.reason) == (outcome, reason)
    assert delivery.detail["attempts"] == attempts == teams.count()


def test_the_secret_url_is_not_in_the_delivery() -> None:
    with FakeTeams() as teams:
        teams.fail_next(Fault.bad_request())
        delivery = send(teams, config(teams))
    assert "SECRET" not in repr(delivery)


def test_the_receiver_config_is_read_from_msteamsv2_configs(tmp_path: Path) -> None:
    (tmp_path / "url").write_text("https://example.invalid/workflows/x\n")
    path = tmp_path / "routing.yaml"
    path.write_text(
        """apiVersion: hopwatch/v1
kind: Routing
alertmanager:
  route: {receiver: teams}
  receivers:
    - name: teams
      msteamsv2_configs:
        - {webhook_url_file: url, title: Hello, send_resolved: false}
        - {}
"""
    )
    routing, issues = load_routing_file(path)
    assert routing is None
    assert [(i.path, i.message, i.hint) for i in issues] == [
        (
            "alertmanager.receivers[0].msteamsv2_configs[1]",
            "one of webhook_url or webhook_url_file must be configured",
            "or set extensions.receivers.teams.msteamsv2.webhook_url_env",
        )
    ]
    path.write_text(
        path.read_text().replace("- {}", "- {text: Hi}")
        + "extensions:\n  receivers:\n    teams: {msteamsv2: {webhook_url_env: TEAMS_URL}}\n"
    )
    routing, issues = load_routing_file(path)
    assert routing is not None and not issues
    first, second = routing.receivers["teams"].integrations
    assert first == MSTeamsV2Config(Secret(file=tmp_path / "url"), False, "Hello", "")
    assert second == MSTeamsV2Config(Secret(env="TEAMS_URL"), True, "", "Hi")


def test_the_payload_matches_its_golden_file() -> None:
    cfg = MSTeamsV2Config(Secret(value="unused"))
    text = json.dumps(payload(sample_notification(sample_alert()), cfg), indent=2) + "\n"
    if os.environ.get("HOPWATCH_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
