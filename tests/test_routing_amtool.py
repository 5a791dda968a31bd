"""hopwatch's routing against the real ``amtool`` (Debian ``prometheus-alertmanager``).

The ``alertmanager:`` section of a Routing file is Alertmanager configuration, so Alertmanager's
own tool is the judge: it accepts every bundled file, it rejects what hopwatch rejects as an
Alertmanager error, and for a table of label sets on a tree with every kind of matcher and
``continue`` at several levels it prints the receivers hopwatch picks, byte for byte, as do the
tree printouts. amtool missing skips these tests on a workstation and fails them in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from monitor.config.includes import check_included_file
from monitor.routing.cli import parse_labels, read_routing, receivers_for
from monitor.routing.spec import ROUTING_KIND
from monitor.validate import KINDS

FIXTURES = Path(__file__).parent / "fixtures" / "routing"
TREE = FIXTURES / "valid" / "amtool_tree.yaml"
BUNDLED = sorted(
    p
    for p in (ROOT / "alert_rules").glob("*.yaml")
    if yaml.safe_load(p.read_text(encoding="utf-8")).get("kind") == ROUTING_KIND
)
TEST_SECRET = "test-secret-value"


@pytest.fixture(scope="module")
def amtool() -> str:
    found = shutil.which("amtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("amtool is required in CI: apt-get install prometheus-alertmanager")
        pytest.skip("amtool is not installed (apt-get install prometheus-alertmanager)")
    return found


def alertmanager_file(routing_file: Path, out: Path) -> Path:
    """The ``alertmanager:`` section alone, as amtool reads it, with a test value for each secret
    that only the extensions provide (an env var amtool cannot know about)."""
    section: dict[str, Any] = yaml.safe_load(routing_file.read_text(encoding="utf-8"))[
        "alertmanager"
    ]
    for receiver in section.get("receivers", []):
        for pd in receiver.get("pagerduty_configs", []):
            if "routing_key" not in pd and "routing_key_file" not in pd:
                pd["routing_key"] = TEST_SECRET
        for hook in receiver.get("webhook_configs", []):
            if "url" not in hook and "url_file" not in hook:
                hook["url"] = "http://127.0.0.1:9/hook"
    out.write_text(yaml.safe_dump(section), encoding="utf-8")
    return out


def run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=30, check=False)


# --- amtool check-config ---------------------------------------------------------------------


def test_there_is_a_bundled_routing_file() -> None:
    assert [p.name for p in BUNDLED] == ["signup.yaml"]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: f"amtool accepts alert_rules/{p.name}")
def test_amtool_accepts_every_bundled_routing_file(path: Path, amtool: str, tmp_path: Path) -> None:
    result = run(amtool, "check-config", str(alertmanager_file(path, tmp_path / "am.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_accepts_the_comparison_tree(amtool: str, tmp_path: Path) -> None:
    result = run(amtool, "check-config", str(alertmanager_file(TREE, tmp_path / "am.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


HOPWATCH_ONLY = {
    "bad_delivery_mode": "extensions are hopwatch's",
    "extension_unknown_receiver": "extensions are hopwatch's",
    "extension_without_integration": "extensions are hopwatch's",
    "forward_without_urls": "extensions are hopwatch's",
    "unused_env_fallback": "a warning about extensions",
    "webhook_mode_cannot_update": "a warning about extensions",
    "pagerduty_service_key": "Events API v1 is not implemented",
    "slack_setting_not_supported": "hopwatch renders its own Slack messages",
    "smtp_global_not_supported": "hopwatch sends no e-mail",
    "templates_not_supported": "hopwatch renders its own messages",
    "slack_api_mode_without_channel": "Alertmanager posts without a channel and token",
    "slack_api_mode_without_token": "Alertmanager posts without a channel and token",
}
"""Fixtures whose ``alertmanager:`` section Alertmanager accepts; hopwatch refuses (or warns) for
the reason given. Every other fixture is an Alertmanager error, and amtool must say so too."""
WITH_SECTION = sorted(
    p
    for p in FIXTURES.glob("*.yaml")
    if "alertmanager" in (yaml.safe_load(p.read_text(encoding="utf-8")) or {})
)


@pytest.mark.parametrize(
    "path",
    WITH_SECTION,
    ids=[
        f"{p.stem}: amtool {'accepts' if p.stem in HOPWATCH_ONLY else 'rejects'} it too"
        for p in WITH_SECTION
    ],
)
def test_alertmanager_errors_are_errors_for_amtool_too(
    path: Path, amtool: str, tmp_path: Path
) -> None:
    section = yaml.safe_load(path.read_text(encoding="utf-8"))["alertmanager"]
    file = tmp_path / "am.yml"
    file.write_text(yaml.safe_dump(section), encoding="utf-8")
    result = run(amtool, "check-config", str(file))
    assert (result.returncode == 0) == (path.stem in HOPWATCH_ONLY), result.stdout


# --- amtool config routes test ---------------------------------------------------------------

# fmt: off
CASES = [
    ("an alert with no labels reaches the default receiver", [], "default"),
    ("the watchdog goes to the blackhole only", ["alertname=Watchdog", "severity=page"], "blackhole"),
    ("a page goes to the pager and on to slack", ["severity=page"], "pager,slack-global,slack-noregion"),
    ("a growth page reaches the growth pager, then slack", ["severity=page", "team=growth"], "growth-pager,slack-global,slack-noregion"),
    ("an activation page matches the other regex alternative", ["severity=page", "team=activation"], "growth-pager,slack-global,slack-noregion"),
    ("a regex is anchored: growth-x is not growth", ["severity=page", "team=growth-x"], "pager,slack-global,slack-noregion"),
    ("a data page continues past data-pager to the warehouse child", ["severity=page", "team=data", "hop=warehouse"], "data-pager,warehouse,slack-global,slack-noregion"),
    ("a data page elsewhere stops at data-pager", ["severity=page", "team=data", "hop=identity"], "data-pager,slack-global,slack-noregion"),
    ("legacy match_re matches warehouse2 with ware.*", ["severity=page", "hop=warehouse2"], "warehouse,slack-global,slack-noregion"),
    ("legacy match_re is anchored: xware does not match", ["severity=page", "hop=xware"], "pager,slack-global,slack-noregion"),
    ("a ticket skips the pager", ["severity=ticket"], "slack-global,slack-noregion"),
    ("a ticket from the legacy pipeline fails the negative matcher", ["severity=ticket", "pipeline=legacy"], "default"),
    ("a ticket on the warehouse edge stops at the warehouse", ["severity=ticket", "edge=broker->warehouse"], "warehouse"),
    ("a ticket on another edge in an EU region stops at slack", ["severity=ticket", "edge=sdk->ingest", "region=eu-west"], "slack"),
    ("a non-EU region continues to the no-region route, which fails", ["severity=ticket", "region=us-east"], "slack-global"),
    ('without a region the negative regex and region="" both match', ["severity=ticket"], "slack-global,slack-noregion"),
    ("an empty label value counts as missing", ["severity=ticket", "region="], "slack-global,slack-noregion"),
    ("an identity check continues on to the SLO route", ["check_name=identity-merges", "slo=merges"], "identity,slo-owners"),
    ("an identity check alone", ["check_name=identity-merges"], "identity"),
    ("identity- with nothing after does not match .+", ["check_name=identity-"], "default"),
    ("an SLO alert goes to its owners", ["slo=signup-latency"], "slo-owners"),
    ("an SLO fast-burn page tier reaches the pager under it", ["slo=signup-latency", "tier=page_fast", "long=1h"], "pager"),
    ("an SLO with another long window stays with the owners", ["slo=signup-latency", "tier=page_fast", "long=3d"], "slo-owners"),
    ("an empty slo label is no SLO", ["slo=", "owner=nobody"], "default"),
    ("a quoted value with an escaped quote and a comma matches exactly", ['summary="disk \\"full\\", again"'], "slack"),
    ("a value without the quotes does not", ["summary=disk full, again"], "default"),
    ("a multi-matcher entry matches when every matcher does", ["owner=growth-platform", "team=growth"], "growth-pager"),
    ("its negative regex excludes data", ["owner=growth-platform", "team=data"], "default"),
    ("an owner without a team passes the negative regex", ["owner=growth-platform"], "growth-pager"),
    ("a page stops at the first matching route without continue", ["severity=page", "team=data", "hop=warehouse", "check_name=identity-x", "slo=s", "region=us"], "data-pager,warehouse,slack-global"),
    ("label names are case sensitive", ["Severity=page"], "default"),
    ("a page on the legacy pipeline reaches the pager only", ["severity=page", "pipeline=legacy"], "pager"),
    ("a growth page in the EU on the warehouse edge", ["severity=page", "team=growth", "region=eu-central", "edge=broker->warehouse"], "growth-pager,warehouse"),
    ("a quoted value may hold spaces and =", ['alertname="a = b"', "severity=ticket", "region=eu-1"], "slack"),
    ("a later label of the same name wins", ["severity=page", "severity=ticket"], "slack-global,slack-noregion"),
    ("spaces around the = are trimmed", [" severity = page ", "team=growth"], "growth-pager,slack-global,slack-noregion"),
    ("RE2: (?i) makes the match case-insensitive", ["dept=ABC"], "re2-case"),
    ("RE2: [[:alpha:]] is a POSIX class", ["code=abc"], "re2-posix"),
    ("RE2: [[:alpha:]] is not the set of its characters", ["code=:]"], "default"),
    ("RE2: \\pL is any letter, accents included", ["word=éé1"], "re2-unicode"),
]
# fmt: on


@pytest.fixture(scope="module")
def tree_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return alertmanager_file(TREE, tmp_path_factory.mktemp("amtool") / "am.yml")


@pytest.mark.parametrize(("name", "labels", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hopwatch_picks_the_receivers_amtool_prints(
    name: str, labels: list[str], expected: str, amtool: str, tree_file: Path
) -> None:
    del name
    routing, issues = read_routing(TREE)
    assert routing is not None, issues
    picked = ",".join(receivers_for(routing.route, parse_labels(labels)))
    result = run(amtool, "config", "routes", "test", f"--config.file={tree_file}", *labels)
    assert (picked, result.stdout) == (expected, expected + "\n")


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c[2] for c in CASES}) >= 15  # many distinct outcomes, not one answer 30 times


def hopwatch(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "monitor", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


@pytest.mark.parametrize(
    "labels",
    [["severity=page", "team=data", "hop=warehouse"], ["severity=ticket"], []],
    ids=["a page with continue", "a ticket", "no labels"],
)
def test_routes_test_tree_prints_what_amtool_prints(
    labels: list[str], amtool: str, tree_file: Path
) -> None:
    ours = hopwatch("routes", "test", "--tree", "--config", str(TREE), *labels)
    theirs = run(
        amtool, "config", "routes", "test", "--tree", f"--config.file={tree_file}", *labels
    )
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)


@pytest.mark.parametrize(
    "verify", ["pager,slack-global,slack-noregion", "pager", "slack-global,pager"]
)
def test_verify_receivers_exits_as_amtool_does(verify: str, amtool: str, tree_file: Path) -> None:
    """Exactly the printed list passes; anything else prints amtool's warning and exits 1."""
    ours = hopwatch(
        "routes", "test", "--config", str(TREE), f"--verify.receivers={verify}", "severity=page"
    )
    theirs = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={tree_file}",
        f"--verify.receivers={verify}",
        "severity=page",
    )
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)


@pytest.mark.parametrize("path", [TREE, *BUNDLED], ids=lambda p: p.name)
def test_routes_show_prints_the_tree_as_amtool_does(
    path: Path, amtool: str, tmp_path: Path
) -> None:
    ours = hopwatch("routes", "show", "--config", str(path))
    theirs = run(
        amtool, "config", "routes", f"--config.file={alertmanager_file(path, tmp_path / 'am.yml')}"
    )
    assert (ours.returncode, ours.stdout) == (0, theirs.stdout)


def test_the_example_in_the_docs_is_valid_for_both(amtool: str, tmp_path: Path) -> None:
    text = (ROOT / "docs" / "routing.md").read_text(encoding="utf-8")
    example = tmp_path / "routing.yaml"
    example.write_text(text.split("```yaml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    assert check_included_file(example, KINDS) == []
    result = run(amtool, "check-config", str(alertmanager_file(example, tmp_path / "am.yml")))
    assert result.returncode == 0, result.stdout
