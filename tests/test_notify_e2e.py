"""Alerts from the simulator to fake Slack and PagerDuty through the daemon, across a restart.

The daemon runs on a fake clock and is fed the simulator's observations minute by minute; its
notifier delivers over real HTTP to local fakes that speak Slack's Web API and PagerDuty's Events
API v2. The routing file is parsed by the same loader as ``hopwatch run`` uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.config.model import Config, StorageConfig
from monitor.daemon import Daemon
from monitor.notify.dispatch import Clients, open_clients
from monitor.routing.load import load_routing_file
from monitor.routing.model import RoutingConfig
from monitor.sim import DEFAULT_HOPS, HopModel, Loss, Scenario, Simulator
from monitor.store import open_store
from monitor.store.nflog_sqlite import open_nflog
from monitor.testing import FakeClock
from monitor.testing_fakes import FakePagerDuty, FakeSlack

pytestmark = pytest.mark.slow  # 90 simulated minutes fed through the daemon, about 45 s each

ROOT = Path(__file__).resolve().parents[1]
START = 1_700_000_040.0  # a minute boundary
EDGE = "broker->warehouse"
HOPS = {**DEFAULT_HOPS, "warehouse": HopModel(latency_median=5.0, latency_p95=20.0)}
TOKEN = "xoxb-e2e-token"
PD_KEY = "R0UT1NGKEY0123456789abcdef012345"
ENV = {"SLACK_BOT_TOKEN": TOKEN, "PD_ROUTING_KEY": PD_KEY}

ROUTING = """\
apiVersion: hopwatch/v1
kind: Routing
alertmanager:
  route:
    receiver: console
    group_by: [alertname, pipeline]
    group_wait: 30s
    group_interval: 2m
    repeat_interval: 4h
    routes:
      - matchers: [severity="page", alertname="HopwatchEdgeDataLoss"]
        receiver: data-oncall
  receivers:
    - name: console
    - name: data-oncall
      slack_configs:
        - api_url: {slack}
          channel: "#data-oncall"
      pagerduty_configs:
        - url: {pd}
          severity: critical
extensions:
  receivers:
    console: {{console: true}}
    data-oncall:
      slack: {{token_env: SLACK_BOT_TOKEN}}
      pagerduty: {{routing_key_env: PD_ROUTING_KEY}}
"""


def routing_for(tmp: Path, slack: FakeSlack, pd: FakePagerDuty) -> RoutingConfig:
    path = tmp / "routing.yaml"
    path.write_text(ROUTING.format(slack=slack.api_url, pd=pd.enqueue_url))
    routing, issues = load_routing_file(path)
    assert routing is not None, [str(i) for i in issues]
    return routing


def example_config(data_dir: Path) -> Config:
    config = load_config(ROOT / "hopwatch.yaml")
    return dataclasses.replace(config, storage=StorageConfig(data_dir=data_dir))


class Run:
    """A daemon on a fake clock fed one simulated minute at a time, notifications delivered
    at every step (and awaited, so the test sees them)."""

    def __init__(self, config: Config, routing: RoutingConfig, sim: Simulator, clock: FakeClock):
        self.config, self.routing, self.sim, self.clock = config, routing, sim, clock
        self.fed_until = sim.start
        self.daemon = self._daemon()

    def _daemon(self) -> Daemon:
        data = self.config.storage.data_dir
        daemon = Daemon(
            self.config,
            self.clock,
            open_store(data),
            routing=self.routing,
            nflog_store=open_nflog(data),
            environ=ENV,
        )
        daemon.start()
        return daemon

    def restart(self) -> None:
        self.daemon.stop()
        self.daemon = self._daemon()

    def advance(self, minutes: int, clients: Clients) -> None:
        for _ in range(minutes * 6):  # ten-second steps: group timers fire on time
            now = self.clock.advance(10.0)
            self.daemon.engine.observe(self.sim.observations(self.fed_until, now))
            self.fed_until = now
            self.daemon.tick()
            asyncio.get_event_loop().run_until_complete(self._notify(now, clients))

    async def _notify(self, now: float, clients: Clients) -> None:
        await self.daemon.notifier.step(now, clients)
        await self.daemon.notifier.drain()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


def clients_in(loop: asyncio.AbstractEventLoop) -> tuple[Clients, object]:
    manager = open_clients(timeout=5.0, deadline=30.0)
    return loop.run_until_complete(manager.__aenter__()), manager


def scenario(loss_minutes: float) -> Scenario:
    fault = Loss(edge=EDGE, share=0.10, start=10 * 60.0, duration=loss_minutes * 60.0)
    return Scenario(start=START, seed=5, hops=HOPS, faults=(fault,))


def loss_run(tmp: Path, slack: FakeSlack, pd: FakePagerDuty) -> Run:
    """The example config at ``START``, 15 minutes of 10% loss on ``EDGE`` from minute 10."""
    config = example_config(tmp)
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    return Run(
        config,
        routing_for(tmp, slack, pd),
        Simulator(pipeline, scenario(15)),
        FakeClock(START),
    )


def slack_text(post: object) -> str:
    return str(post.text) + " " + repr(post.blocks)  # type: ignore[attr-defined]


def test_ten_percent_loss_on_the_warehouse_edge_is_one_slack_message_updated_on_resolve(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    with FakeSlack(token=TOKEN) as slack, FakePagerDuty() as pd:
        clients, manager = clients_in(loop)
        run = loss_run(tmp_path, slack, pd)
        run.advance(24, clients)  # ten clean minutes, the loss, a few minutes after it started
        firing = [a for a in run.daemon.engine._book.firing() if a.name == "HopwatchEdgeDataLoss"]
        assert {dict(a.labels)["edge"] for a in firing} == {EDGE}
        [post] = slack.posts
        assert post.channel and not post.updates
        text = slack_text(post)
        assert "FIRING" in text and EDGE in text
        # The evidence as of the notification: observed vs expected for the bucket that fired.
        assert "expected events missing" in text and "sustained loss" in text
        triggers = [e for e in pd.events if e["event_action"] == "trigger"]
        assert len(triggers) == 1

        run.advance(26, clients)  # the fault ends at minute 25; resolve needs clean buckets
        loop.run_until_complete(manager.__aexit__(None, None, None))
        run.daemon.stop()

    assert not [a for a in run.daemon.engine._book.firing() if a.name == "HopwatchEdgeDataLoss"]
    [post] = slack.posts  # still one message: the resolve updated it
    assert len(post.updates) >= 1
    assert "RESOLVED" in slack_text(post)
    actions = [e["event_action"] for e in pd.events]
    assert actions == ["trigger", "resolve"]
    assert pd.events[0]["dedup_key"] == pd.events[1]["dedup_key"]
    assert run.daemon.stats.notifications[("data-oncall", "slack", "sent")] >= 2


def test_a_restart_while_firing_sends_exactly_one_resolve_to_the_same_message_and_incident(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    with FakeSlack(token=TOKEN) as slack, FakePagerDuty() as pd:
        clients, manager = clients_in(loop)
        run = loss_run(tmp_path, slack, pd)
        run.advance(24, clients)
        [post] = slack.posts
        [trigger] = pd.events
        assert trigger["event_action"] == "trigger"

        run.restart()  # stopped and started while the alert fires; the fault still on
        run.advance(3, clients)
        assert len(slack.posts) == 1 and not post.updates  # nothing sent again
        assert len(pd.events) == 1

        run.advance(23, clients)  # the fault cleared
        loop.run_until_complete(manager.__aexit__(None, None, None))
        run.daemon.stop()

    [same] = slack.posts
    assert same.ts == post.ts
    assert len(same.updates) == 1 and "RESOLVED" in slack_text(same)
    assert [e["event_action"] for e in pd.events] == ["trigger", "resolve"]
    assert pd.events[1]["dedup_key"] == trigger["dedup_key"]
    assert pd.incidents == {trigger["dedup_key"]: "resolved"}
