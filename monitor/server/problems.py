"""HTTP errors as JSON ``{"error": ..., "hint": ...}``: what is wrong (naming the field) and what to do.

Handlers raise ``Problem``; the app turns it into the response, so every 4xx has the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from starlette.requests import Request
from starlette.responses import Response


class Problem(Exception):
    """A client error to answer with ``status``; ``error`` says what, ``hint`` how to fix it."""

    def __init__(
        self,
        status: int,
        error: str,
        hint: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.hint = hint
        self.headers = dict(headers or {})


def json_response(payload: object, status: int = 200) -> Response:
    """JSON via msgspec: handles structs, tuples and enums, and is fast for large batches."""
    return Response(msgspec.json.encode(payload), status, media_type="application/json")


def problem_response(problem: Problem) -> Response:
    response = json_response({"error": problem.error, "hint": problem.hint}, problem.status)
    response.headers.update(problem.headers)
    return response


async def handle_problem(_request: Request, exc: Exception) -> Response:
    """Starlette exception handler for ``Problem``."""
    assert isinstance(exc, Problem)
    return problem_response(exc)
