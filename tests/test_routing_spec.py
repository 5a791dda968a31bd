"""The Routing file format: every kind of mistake reported exactly, and specs as exact models.

Fixtures ``tests/fixtures/routing/<kind_of_error>.yaml`` sit next to ``<kind_of_error>.expected``,
the exact issue lines (``file:line:col: key.path: message (hint)``) of loading the file. The test
runs from the fixture directory so paths are short. The model tests pin Alertmanager's semantics:
defaults 30s / 5m / 4h, inheritance down the tree, ``group_by: ['...']``, route keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, fixture_id, issue_lines

from monitor.config.errors import ConfigError
from monitor.config.includes import check_included_file
from monitor.config.model import Config
from monitor.routing.load import load_routing, load_routing_file
from monitor.routing.model import (
    ConsoleConfig,
    DeliveryMode,
    Extensions,
    InhibitRule,
    Matcher,
    MatchOp,
    PagerDutyConfig,
    Receiver,
    Route,
    RouteOpts,
    RoutingConfig,
    Secret,
    SlackConfig,
    SlackMode,
    WebhookConfig,
    default_routing,
)
from monitor.time_intervals import Span, TimeInterval, TimeRange
from monitor.validate import KINDS

FIXTURES = Path(__file__).parent / "fixtures" / "routing"
CASES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
SIGNUP = ROOT / "alert_rules" / "signup.yaml"
HEAD = "apiVersion: hopwatch/v1\nkind: Routing\n"


def eq(name: str, value: str) -> Matcher:
    return Matcher(name, MatchOp.EQ, value)


def compile_text(tmp_path: Path, body: str) -> RoutingConfig:
    path = tmp_path / "routing.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    routing, issues = load_routing_file(path)
    assert routing is not None, issue_lines(issues)
    return routing


# --- every mistake, exactly ------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES, ids=[fixture_id(n) for n in CASES])
def test_fixture_output_is_exact(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    routing, issues = load_routing_file(name)
    expected = (FIXTURES / name).with_suffix(".expected").read_text(encoding="utf-8")
    assert issue_lines(issues) == expected
    assert expected  # every fixture shows a mistake
    assert (routing is None) == any(i.is_error for i in issues)


@pytest.mark.parametrize("name", CASES, ids=[n.removesuffix(".yaml") for n in CASES])
def test_validate_reports_what_loading_reports(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hopwatch validate`` (the include check) and the daemon's loader agree on every file."""
    monkeypatch.chdir(FIXTURES)
    assert set(check_included_file(Path(name), KINDS)) == set(load_routing_file(name)[1])


def test_every_fixture_has_an_expected_file() -> None:
    missing = [n for n in CASES if not (FIXTURES / n).with_suffix(".expected").exists()]
    assert missing == []
    assert len(CASES) >= 25


def test_a_secret_never_appears_in_an_error() -> None:
    text = (FIXTURES / "secret_url_not_echoed.expected").read_text(encoding="utf-8")
    assert "SECRET" not in text


# --- the shipped example ---------------------------------------------------------------------


def test_example_validates_without_issues() -> None:
    assert check_included_file(SIGNUP, KINDS) == []


def test_example_maps_to_the_exact_model() -> None:
    routing, issues = load_routing_file(SIGNUP)
    assert issues == []
    assert routing is not None
    labels = ("alertname", "pipeline", "edge", "hop")
    root = RouteOpts("console", group_by=labels)
    page = RouteOpts("growth-oncall", group_by=labels, group_wait=10.0, repeat_interval=3600.0)
    ticket = RouteOpts(
        "growth-tickets", group_by=("alertname", "pipeline"), repeat_interval=86400.0
    )
    nightly = ("warehouse-nightly-load",)
    assert routing.route == Route(
        root,
        routes=(
            Route(
                page,
                (eq("severity", "page"),),
                routes=(
                    Route(
                        RouteOpts(**{**vars(page), "mute_time_intervals": nightly}),
                        (eq("alertname", "HopwatchHopStalled"), eq("hop", "warehouse")),
                        key='{}/{severity="page"}/{alertname="HopwatchHopStalled",hop="warehouse"}',
                    ),
                ),
                key='{}/{severity="page"}',
            ),
            Route(
                ticket,
                (eq("severity", "ticket"),),
                routes=(
                    Route(
                        RouteOpts(**{**vars(ticket), "mute_time_intervals": nightly}),
                        (eq("hop", "warehouse"),),
                        key='{}/{severity="ticket"}/{hop="warehouse"}',
                    ),
                ),
                key='{}/{severity="ticket"}',
                index=1,
            ),
        ),
    )
    token = Secret(env="SLACK_BOT_TOKEN")
    api = Secret(value="https://slack.com/api/chat.postMessage")
    assert routing.receivers == {
        "console": Receiver("console", (ConsoleConfig(),)),
        "growth-oncall": Receiver(
            "growth-oncall",
            (
                *(SlackConfig("#growth-oncall", SlackMode.API, api, token, thread_replies=True),),
                *(
                    PagerDutyConfig(
                        Secret(file=Path("/run/secrets/hopwatch/pagerduty-routing-key")),
                        severity="critical",
                        client_url="http://127.0.0.1:9464",
                    ),
                ),
            ),
        ),
        "growth-tickets": Receiver(
            "growth-tickets", (*(SlackConfig("#growth-alerts", SlackMode.API, api, token),),)
        ),
    }
    assert routing.inhibit_rules == (
        InhibitRule((eq("severity", "page"),), (eq("severity", "ticket"),), ("pipeline", "edge")),
    )
    assert routing.time_intervals == {
        "warehouse-nightly-load": (
            TimeInterval(times=(TimeRange(90, 210),), location="Europe/Berlin"),
        )
    }
    assert routing.extensions == Extensions()
    assert routing.resolve_timeout == 300.0


def test_pages_reach_pagerduty_and_slack_tickets_slack_the_rest_the_console() -> None:
    routing, _ = load_routing_file(SIGNUP)
    assert routing is not None

    def reach(**labels: str) -> list[str]:
        return [r.opts.receiver for r in routing.route.match(labels)]

    assert reach(severity="page", alertname="HopwatchEdgeDataLoss") == ["growth-oncall"]
    assert reach(severity="ticket", alertname="HopwatchSLOBurnRate") == ["growth-tickets"]
    assert reach(alertname="HopwatchVolumeAnomaly") == ["console"]
    integrations = routing.receivers["growth-oncall"]
    assert (len(integrations.of("pagerduty")), len(integrations.of("slack"))) == (1, 1)


# --- Alertmanager's semantics, spec → model --------------------------------------------------

TREE = """
alertmanager:
  route:
    receiver: root
    routes:
      - matchers: [a="1"]
        group_by: ['...']
        group_wait: 1m
        routes:
          - matchers: [b="2"]
            receiver: child
            group_interval: 10m
            routes:
              - matchers: [c="3"]
                group_by: [alertname]
                repeat_interval: 1d
          - matchers: [b="3"]
            group_by: []
  receivers:
    - name: root
    - name: child
"""


def test_a_root_without_timers_has_alertmanagers_defaults(tmp_path: Path) -> None:
    routing = compile_text(tmp_path, TREE)
    assert routing.route.opts == RouteOpts("root", group_wait=30.0, group_interval=300.0)
    assert routing.route.opts.repeat_interval == 4 * 3600.0
    assert routing.route.key == "{}"


def test_children_inherit_what_they_do_not_set(tmp_path: Path) -> None:
    a = compile_text(tmp_path, TREE).route.routes[0]
    b2 = a.routes[0]
    assert a.opts == RouteOpts("root", group_by_all=True, group_wait=60.0)
    assert b2.opts == RouteOpts("child", group_by_all=True, group_wait=60.0, group_interval=600.0)
    assert b2.routes[0].opts == RouteOpts(
        "child", ("alertname",), group_wait=60.0, group_interval=600.0, repeat_interval=86400.0
    )


def test_an_empty_group_by_inherits_as_in_alertmanager(tmp_path: Path) -> None:
    """Alertmanager reads ``group_by: []`` as not set, so the parent's ``...`` carries on."""
    b3 = compile_text(tmp_path, TREE).route.routes[0].routes[1]
    assert (b3.opts.group_by, b3.opts.group_by_all) == ((), True)


def test_route_keys_chain_matchers_from_the_root(tmp_path: Path) -> None:
    c = compile_text(tmp_path, TREE).route.routes[0].routes[0].routes[0]
    assert c.key == '{}/{a="1"}/{b="2"}/{c="3"}'
    assert [r.index for r in compile_text(tmp_path, TREE).route.routes[0].routes] == [0, 1]


def test_matchers_of_every_form_are_merged_and_sorted_as_alertmanager_does(
    tmp_path: Path,
) -> None:
    routing = compile_text(
        tmp_path,
        """
alertmanager:
  route:
    receiver: r
    routes:
      - match: {team: growth}
        match_re: {hop: "ware.*"}
        matchers: ['{severity!="ticket", alertname!~"Watchdog|Info.*"}', 'env = prod']
  receivers: [{name: r}]
""",
    )
    route = routing.route.routes[0]
    assert route.matchers == (
        Matcher("alertname", MatchOp.NRE, "Watchdog|Info.*"),
        eq("env", "prod"),
        Matcher("hop", MatchOp.RE, "^(?:ware.*)$"),
        Matcher("severity", MatchOp.NE, "ticket"),
        eq("team", "growth"),
    )
    assert route.key == (
        '{}/{alertname!~"Watchdog|Info.*",env="prod",hop=~"^(?:ware.*)$",severity!="ticket",'
        'team="growth"}'
    )


def test_time_intervals_take_both_alertmanager_names_and_are_not_inherited(
    tmp_path: Path,
) -> None:
    routing = compile_text(
        tmp_path,
        """
alertmanager:
  route:
    receiver: r
    routes:
      - mute_time_intervals: [weekends]
        active_time_intervals: [office]
        routes: [{matchers: [a="1"]}]
  time_intervals:
    - name: weekends
      time_intervals: [{weekdays: [saturday, sunday]}]
  mute_time_intervals:
    - name: office
      time_intervals: [{weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}]}]
  receivers: [{name: r}]
""",
    )
    outer = routing.route.routes[0]
    assert (outer.opts.mute_time_intervals, outer.opts.active_time_intervals) == (
        ("weekends",),
        ("office",),
    )
    assert outer.routes[0].opts.mute_time_intervals == ()
    assert routing.time_intervals["weekends"] == (TimeInterval(weekdays=(Span(6, 6), Span(0, 0))),)
    assert routing.time_intervals["office"] == (
        TimeInterval(times=(TimeRange(540, 1020),), weekdays=(Span(1, 5),)),
    )


def test_inhibit_rules_merge_legacy_and_new_matchers(tmp_path: Path) -> None:
    routing = compile_text(
        tmp_path,
        """
alertmanager:
  route: {receiver: r}
  inhibit_rules:
    - source_match: {severity: page}
      source_matchers: [alertname="HopwatchEdgeDataLoss"]
      target_match_re: {severity: "ticket|info"}
      equal: [pipeline]
  receivers: [{name: r}]
""",
    )
    assert routing.inhibit_rules == (
        InhibitRule(
            source=(eq("alertname", "HopwatchEdgeDataLoss"), eq("severity", "page")),
            target=(Matcher("severity", MatchOp.RE, "^(?:ticket|info)$"),),
            equal=("pipeline",),
        ),
    )


RECEIVERS = """
alertmanager:
  global:
    resolve_timeout: 10m
    slack_api_url_file: secrets/slack-webhook
    pagerduty_url: https://pd.example.com/v2/enqueue
  route: {receiver: hooks}
  receivers:
    - name: hooks
      slack_configs:
        - channel: "#a"
          send_resolved: false
          title: Data loss
        - api_url: https://slack.com/api/chat.postMessage
          channel: "#b"
          http_config: {authorization: {credentials: xoxb-test}}
        - api_url_file: /run/secrets/slack-url
          channel: "#c"
      pagerduty_configs:
        - routing_key: inline-key
          client: Data platform
          client_url: https://hopwatch.example.com
          source: signup
      webhook_configs:
        - url_file: secrets/hook
          max_alerts: 5
        - send_resolved: false
extensions:
  delivery: forward
  forward: {alertmanager_urls: ['http://am-1:9093', 'http://am-2:9093']}
  topology_inhibition: false
  external_url: https://hopwatch.example.com
  receivers:
    hooks:
      slack: {token_env: SLACK_TOKEN, update_on_change: false}
      webhook: {url_env: HOOK_URL}
"""


def test_receivers_secrets_and_slack_modes(tmp_path: Path) -> None:
    """Relative ``*_file`` paths are read beside the routing file (as Alertmanager does); an
    ``api_url`` ending in ``/chat.postMessage`` is the Web API, a file with a token too."""
    routing = compile_text(tmp_path, RECEIVERS)
    hooks = routing.receivers["hooks"]
    token = Secret(env="SLACK_TOKEN")
    assert hooks.of("slack") == (
        SlackConfig(
            "#a",
            SlackMode.API,
            Secret(file=tmp_path / "secrets/slack-webhook"),
            token,
            send_resolved=False,
            title="Data loss",
            update_on_change=False,
        ),
        SlackConfig(
            "#b",
            SlackMode.API,
            Secret(value="https://slack.com/api/chat.postMessage"),
            Secret(value="xoxb-test"),
            update_on_change=False,
        ),
        SlackConfig(
            "#c",
            SlackMode.API,
            Secret(file=Path("/run/secrets/slack-url")),
            token,
            update_on_change=False,
        ),
    )
    assert hooks.of("pagerduty") == (
        PagerDutyConfig(
            Secret(value="inline-key"),
            url="https://pd.example.com/v2/enqueue",
            client="Data platform",
            client_url="https://hopwatch.example.com",
            source="signup",
        ),
    )
    assert hooks.of("webhook") == (
        WebhookConfig(Secret(file=tmp_path / "secrets/hook"), max_alerts=5),
        WebhookConfig(Secret(env="HOOK_URL"), send_resolved=False),
    )
    assert routing.extensions == Extensions(
        DeliveryMode.FORWARD,
        ("http://am-1:9093", "http://am-2:9093"),
        topology_inhibition=False,
        external_url="https://hopwatch.example.com",
    )
    assert routing.resolve_timeout == 600.0


def test_an_incoming_webhook_neither_updates_nor_threads(tmp_path: Path) -> None:
    routing = compile_text(
        tmp_path,
        """
alertmanager:
  route: {receiver: s}
  receivers:
    - name: s
      slack_configs: [{api_url: "https://hooks.slack.com/services/T0/B0/X"}]
""",
    )
    (slack,) = routing.receivers["s"].of("slack")
    assert (slack.mode, slack.update_on_change, slack.thread_replies) == (
        SlackMode.WEBHOOK,
        False,
        False,
    )
    assert "hooks.slack.com" not in repr(slack)


# --- the main config -------------------------------------------------------------------------


def test_no_routing_file_means_the_default(config: Config) -> None:
    assert load_routing(config) == default_routing()


def test_the_main_configs_routing_file_is_loaded(config: Config) -> None:
    with_routing = Config(pipelines=config.pipelines, includes=(SIGNUP,))
    assert load_routing(with_routing).route.opts.receiver == "console"


def test_two_routing_files_are_an_error(config: Config, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SIGNUP.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_routing(Config(pipelines=config.pipelines, includes=(SIGNUP, other)))
    assert str(err.value) == (
        f"{other}:6:1: kind: a second kind: Routing file; the routing tree is in {SIGNUP} "
        "(Alertmanager has one routing tree: merge the routes into one file)"
    )
