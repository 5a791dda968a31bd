"""The HTTP side shared by the Prometheus and JSON adapters: one GET, failures classified.

httpx's exceptions and status codes become ``SourceError`` reasons here, once, so both adapters
count the same failure the same way in ``hopwatch_source_errors_total``. Messages name the URL
without its query string and never the bearer token.
"""

from __future__ import annotations

from typing import Any

import httpx

from monitor.sources.health import FailureReason, SourceError

__all__ = ["get_json", "make_client"]


def make_client(timeout: float, bearer_token: str | None) -> httpx.AsyncClient:
    """A client per source: its own timeout, its own auth header, connections kept alive."""
    headers = {"Accept": "application/json"}
    if bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    return httpx.AsyncClient(timeout=timeout, headers=headers, follow_redirects=False)


async def get_json(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> Any:
    """The decoded JSON body of a 2xx answer; ``SourceError`` for anything else."""
    where = url.split("?", 1)[0]
    try:
        # No params at all keeps the URL's own query string (httpx replaces it with any dict).
        response = await client.get(url, params=params or None)
    except httpx.TimeoutException:
        raise SourceError(FailureReason.TIMEOUT, f"{where}: timed out") from None
    except httpx.TransportError as exc:
        raise SourceError(FailureReason.CONNECTION, f"{where}: {type(exc).__name__}") from None
    if response.status_code >= 400:
        raise SourceError(
            FailureReason.HTTP_STATUS,
            f"{where} answered {response.status_code}: {_excerpt(response)}",
        )
    try:
        return response.json()
    except ValueError:
        raise SourceError(FailureReason.BAD_RESPONSE, f"{where}: the body is not JSON") from None


def _excerpt(response: httpx.Response) -> str:
    """Prometheus's ``error`` field when there is one, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:200]
    return response.text[:200]
