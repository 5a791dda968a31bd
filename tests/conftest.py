"""Shared fixtures: the example pipeline without its includes, and the fixture-output format."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.config.errors import ConfigIssue
from monitor.config.model import Config
from monitor.validate import check_config

ROOT = Path(__file__).parent.parent

pytest_plugins = ["pg_support"]  # the session's PostgreSQL server (tests/pg_support.py)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The example pipeline of hopwatch.yaml, without its includes (the files under test)."""
    data = yaml.safe_load((ROOT / "hopwatch.yaml").read_text(encoding="utf-8"))
    data.pop("include")
    path = tmp_path_factory.mktemp("config") / "hopwatch.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded, issues = check_config(path)
    assert loaded is not None, issues
    return loaded


def issue_lines(issues: list[ConfigIssue]) -> str:
    """Issues as ``hopwatch validate`` prints them, the format of every ``.expected`` file."""
    return "".join(f"{i}\n" for i in sorted(issues, key=ConfigIssue.sort_key))


def fixture_id(name: str) -> str:
    return name.removesuffix(".yaml").replace("_", " ") + " is reported exactly"
