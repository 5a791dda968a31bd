"""``hopwatch silence add|list|expire`` against a served hopwatch, as amtool users expect it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, ServerConfig
from monitor.server.app import create_app
from monitor.testing import FakeClock, StaticRuntime, free_port, serve_in_thread

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TOKEN = "s3cret"


@dataclass
class Daemon:
    runtime: StaticRuntime
    url: str


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    monkeypatch.setenv("HOPWATCH_TOKEN", TOKEN)
    monkeypatch.setenv("USER", "ana")
    runtime = StaticRuntime(
        Config(server=ServerConfig(auth=AuthPolicy.single_token(TOKEN))), FakeClock(T0)
    )
    with serve_in_thread(create_app(runtime)) as url:
        yield Daemon(runtime, url)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["silence", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_prints_the_new_id_and_list_shows_it_in_a_table(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "add",
        'edge="identity->activation"',
        "severity=~page|ticket",
        "--duration",
        "2h",
        "--comment",
        "resolver deploy",
        "--url",
        daemon.url,
    )
    assert (code, err) == (0, "")
    (silence,) = daemon.runtime.silences.list(T0)
    assert out == f"{silence.id}\n"

    code, out, err = run(capsys, "list", "--url", daemon.url)

    assert (code, err) == (0, "")
    assert len(silence.id) == 36  # a UUID
    assert out == (
        f"{'ID':<36}  {'Matchers':<51}  Ends At                  Created By  Comment\n"
        f'{silence.id}  edge="identity->activation" severity=~"page|ticket"  '
        "2023-11-15 00:13:20 UTC  ana         resolver deploy\n"
    )


def test_add_defaults_to_one_hour_and_takes_an_end_time_author_and_token_file(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("HOPWATCH_TOKEN")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    common = ["--url", daemon.url, "--token-file", str(token), "-c", "why"]

    assert run(capsys, "add", "a=1", *common)[0] == 0
    assert run(capsys, "add", "a=2", "--end", "2023-11-15T01:00:00Z", "-a", "bo", *common)[0] == 0

    first, second = sorted(daemon.runtime.silences.list(T0), key=lambda s: s.ends_at)
    assert (first.ends_at, first.created_by) == (T0 + 3600, "ana")
    assert (second.ends_at, second.created_by) == (1_700_010_000.0, "bo")


def test_add_reports_what_the_daemon_refused(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "add", 'x=~".*"', "-c", "why", "--url", daemon.url)
    assert (code, out) == (1, "")
    assert err.startswith('hopwatch silence: 400: x=~".*" would mute every alert')
    assert "(matchers)" in err


def test_without_the_token_the_daemon_answers_401(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("HOPWATCH_TOKEN")
    code, _, err = run(capsys, "add", "a=1", "-c", "why", "--url", daemon.url)
    assert code == 1
    assert err.startswith("hopwatch silence: 401: missing Authorization header")


def test_expire_ends_silences_and_list_expired_shows_them(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    for value in ("1", "2"):
        run(capsys, "add", f"a={value}", "-c", "why", "--url", daemon.url)
    ids = [s.id for s in daemon.runtime.silences.list(T0)]

    code, out, err = run(capsys, "expire", *ids, "--url", daemon.url)
    assert (code, out, err) == (0, "", "")

    assert run(capsys, "list", "-q", "--url", daemon.url) == (0, "", "")
    code, out, _ = run(capsys, "list", "--expired", "-q", "--url", daemon.url)
    assert sorted(out.split()) == sorted(ids)


def test_expire_of_an_unknown_id_says_so_and_exits_one(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "expire", "nope", "--url", daemon.url)
    assert code == 1
    assert err.startswith("hopwatch silence: 404: no silence 'nope' (id);")


def test_an_unreachable_daemon_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "list", "--url", url)
    assert code == 1
    assert f"cannot reach {url}" in err


def test_with_the_daemons_config_it_finds_the_address_and_the_admin_token(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("HOPWATCH_TOKEN")
    monkeypatch.setenv("OPS_TOKEN", TOKEN)
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    config = tmp_path / "hopwatch.yaml"
    config.write_text(
        "apiVersion: hopwatch/v1\n"
        f"server:\n  listen: {host}:{port}\n  auth:\n    tokens:\n"
        "      - {name: ops, scopes: [admin], token_env: OPS_TOKEN}\n"
    )
    code, out, err = run(
        capsys, "add", "alertname=X", "--comment", "deploy", "--config", str(config)
    )
    assert (code, err) == (0, "")
    (silence,) = daemon.runtime.silences.list(T0)
    assert out == f"{silence.id}\n"


def test_slo_status_with_the_config_reads_the_daemon_it_names(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    config = tmp_path / "hopwatch.yaml"
    config.write_text(f"apiVersion: hopwatch/v1\nserver:\n  listen: {host}:{port}\n")
    assert main(["slo", "status", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[0].split()[0] == "SLO"
