"""``hopwatch routes test`` and ``routes show`` as a user runs them, in process.

The byte-for-byte comparison with amtool is in ``test_routing_amtool.py``; here: which file
``--config`` reads (the main config's Routing include, one Routing file, the default without
one), and what a mistake prints and returns.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import ROOT

from monitor.cli import main
from monitor.routing.cli import parse_labels, routes_show_command, routes_test_command
from monitor.routing.matchers import MatcherError

SIGNUP = ROOT / "alert_rules" / "signup.yaml"


def run_test(config: Path, *labels: str, verify: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = routes_test_command(config, list(labels), out, err, verify=verify)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["severity=page", "alertname=HopwatchEdgeDataLoss", "edge=identity->activation"], "growth-oncall\n"),
        (["severity=ticket", "alertname=HopwatchSLOBurnRate", "slo=signup-latency"], "growth-tickets\n"),
        (["alertname=HopwatchVolumeAnomaly", "severity=info"], "console\n"),
        (["severity=page", "alertname=HopwatchHopStalled", "hop=warehouse"], "growth-oncall\n"),
    ],
    ids=["a page goes on call", "a ticket to the team channel", "the rest to the console", "a muted route still names its receiver"],
)  # fmt: skip
def test_the_main_config_routes_through_its_routing_include(
    labels: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert run_test(Path("hopwatch.yaml"), *labels) == (0, expected, "")


def test_a_routing_file_can_be_given_alone() -> None:
    assert run_test(SIGNUP, "severity=page") == (0, "growth-oncall\n", "")


def test_a_main_config_without_routing_uses_the_default(config_path: Path) -> None:
    assert run_test(config_path, "severity=page") == (0, "log\n", "")


def test_the_cli_defaults_to_hopwatch_yaml(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["routes", "test", "severity=ticket"]) == 0
    assert capsys.readouterr().out == "growth-tickets\n"


def test_a_label_that_is_not_name_value_is_a_usage_error() -> None:
    code, out, err = run_test(SIGNUP, "severity=~page")
    assert (code, out) == (2, "")
    assert (
        err
        == "hopwatch routes test: cannot parse labels: labels must be specified as key=value pairs\n"
    )


def test_a_broken_routing_file_prints_its_errors(tmp_path: Path) -> None:
    bad = tmp_path / "routing.yaml"
    bad.write_text(
        "apiVersion: hopwatch/v1\nkind: Routing\nalertmanager:\n"
        "  route: {receiver: nobody}\n  receivers: [{name: console}]\n",
        encoding="utf-8",
    )
    code, out, err = run_test(bad, "a=b")
    assert (code, out) == (1, "")
    assert err == (
        f"{bad}:4:11: alertmanager.route.receiver: undefined receiver 'nobody' used in route "
        "(known receivers: console)\n"
    )


def test_another_kind_of_file_is_refused() -> None:
    code, out, err = run_test(ROOT / "checks" / "signup.yaml")
    assert (code, out) == (1, "")
    assert "expected a main config or kind: Routing, got kind 'Checks'" in err


def test_verify_receivers_compares_the_printed_list() -> None:
    assert run_test(SIGNUP, "severity=page", verify="growth-oncall")[0] == 0
    code, out, _ = run_test(SIGNUP, "severity=page", verify="console")
    assert (code, out) == (
        1,
        "growth-oncall\nWARNING: Expected receivers did not match resolved receivers.\n",
    )


def test_routes_show_prints_the_tree() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert routes_show_command(SIGNUP, out, err) == 0
    assert out.getvalue() == (
        "Routing tree:\n.\n"
        "└── default-route  receiver: console\n"
        '    ├── {severity="page"}  receiver: growth-oncall\n'
        '    │\u00a0\u00a0 └── {alertname="HopwatchHopStalled",hop="warehouse"}  receiver: growth-oncall\n'
        '    └── {severity="ticket"}  receiver: growth-tickets\n'
        '        └── {hop="warehouse"}  receiver: growth-tickets\n'
        "\n"
    )


@pytest.mark.parametrize(
    ("arg", "labels"),
    [
        ("a=b", {"a": "b"}),
        ('a="b c"', {"a": "b c"}),
        ('a="x=\\"y\\""', {"a": 'x="y"'}),
        ("a=", {"a": ""}),
        (" a = b ", {"a": "b"}),
    ],
    ids=["plain", "quoted with a space", "escaped quotes", "empty", "spaces trimmed"],
)
def test_labels_are_read_as_amtool_reads_them(arg: str, labels: dict[str, str]) -> None:
    assert parse_labels([arg]) == labels


@pytest.mark.parametrize(
    "arg", ["a", "=b", "a!=b", 'a="b'], ids=["no operator", "no name", "not equality", "open quote"]
)
def test_labels_amtool_refuses_are_refused(arg: str) -> None:
    with pytest.raises(MatcherError):
        parse_labels([arg])


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """The example pipeline without includes, so no Routing file."""
    text = (ROOT / "hopwatch.yaml").read_text(encoding="utf-8")
    start = text.index("include:")
    end = text.index("pipelines:")
    path = tmp_path / "hopwatch.yaml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    return path
