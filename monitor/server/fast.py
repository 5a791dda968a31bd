"""The HTTP parser and event loop hopwatch serves with: httptools and uvloop when installed.

Measured on the ingest bench, uvicorn's pure-Python h11 parser and the stdlib asyncio loop cost
about as much per pushed observation as the ledger does (issue 16: 2.1-2.3 us/obs of framework
with h11, 1.2-1.4 with httptools and uvloop). Both are declared dependencies, but they are C
extensions that may be missing on an odd platform (uvloop has no Windows build), so every
choice falls back to the pure-Python one instead of failing to start.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

__all__ = ["http_protocol", "loop_name", "run"]


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def http_protocol() -> Literal["httptools", "h11"]:
    """uvicorn's ``http`` setting: the C parser when installed."""
    return "httptools" if _importable("httptools") else "h11"


def loop_name() -> Literal["uvloop", "asyncio"]:
    """The loop ``run`` uses (uvicorn's ``loop`` setting names the same choice)."""
    return "uvloop" if _importable("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when installed: the daemon creates its loop here, before
    uvicorn sees it, so uvicorn's own ``loop`` setting cannot choose it."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
