"""The serving stack's choices: httptools and uvloop when installed, the pure-Python ones otherwise."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from monitor.server import fast


async def _answer() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_without_the_c_extensions_it_serves_with_h11_and_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fast, "_importable", lambda _name: False)
    assert fast.http_protocol() == "h11"
    assert fast.loop_name() == "asyncio"
    assert fast.run(_answer()).startswith("asyncio")


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
def test_with_uvloop_installed_the_loop_is_uvloop() -> None:
    assert fast.loop_name() == "uvloop"
    assert fast.run(_answer()).startswith("uvloop")


@pytest.mark.skipif(importlib.util.find_spec("httptools") is None, reason="httptools not installed")
def test_with_httptools_installed_uvicorn_parses_with_it() -> None:
    assert fast.http_protocol() == "httptools"
