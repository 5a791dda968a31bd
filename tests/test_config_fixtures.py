"""Every kind of config error, one fixture each, with the exact output of ``hopwatch validate``.

A fixture ``<kind_of_error>.yaml`` sits next to ``<kind_of_error>.expected``. The test runs from
the fixture directory so the printed paths are the ones a user in that directory would see.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from monitor.validate import validate_command

FIXTURES = Path(__file__).parent / "fixtures" / "config"
CASES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
UNSET_VAR = "HOPWATCH_TEST_TOKEN_UNSET"


def _sentence(name: str) -> str:
    return name.removesuffix(".yaml").replace("_", " ") + " is reported exactly"


@pytest.mark.parametrize("name", CASES, ids=[_sentence(n) for n in CASES])
def test_fixture_output_is_exact(
    name: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(FIXTURES)
    monkeypatch.delenv(UNSET_VAR, raising=False)
    out = io.StringIO()
    status = validate_command([name], out)
    expected = (FIXTURES / name).with_suffix(".expected").read_text(encoding="utf-8")
    assert out.getvalue() == expected
    assert status == (0 if ": ok — " in expected else 1)


def test_every_fixture_has_an_expected_file() -> None:
    missing = [n for n in CASES if not (FIXTURES / n).with_suffix(".expected").exists()]
    assert missing == []


def test_several_errors_are_all_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    out = io.StringIO()
    assert validate_command(["several_errors.yaml"], out) == 1
    assert len(out.getvalue().splitlines()) >= 8
