"""``GET /openapi.json``: an OpenAPI 3.1 document of every endpoint, as the server behaves.

Written as data in one place (rather than generated from handlers, which take a raw ``Request``)
so that clients, fuzzers (``tests/test_fuzz.py`` walks it) and people read one description of the
surface. The push item schemas are generated from the msgspec wire structs, so their string bounds
(``monitor.sources.limits``) can never drift from what the decoder enforces; the rest is written
out. ``tests/test_openapi.py`` checks that every route of ``create_app`` is described here.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from monitor.records import CountSampleIn, ObservationIn
from monitor.sources import limits
from monitor.sources.push import _CountSampleWire, _ObservationWire

__all__ = ["document", "openapi"]

_PROBLEM: Final = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "what is wrong, naming the field"},
        "hint": {"type": "string", "description": "how to fix it"},
        "field": {"type": ["string", "null"]},
    },
    "required": ["error", "hint"],
}
_JSON: Final = "application/json"
_NDJSON: Final = "application/x-ndjson"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_EDGE_PATH = [
    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
    for n in ("pipeline", "edge")
]


def _answer(description: str, schema: dict[str, Any] | None = None, media: str = _JSON) -> Any:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {media: {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    text = {
        400: "bad body or field (named in error)",
        401: "bearer token missing or wrong",
        404: "not found",
        413: "body larger than server.max_body_size",
        415: "unsupported Content-Type or Content-Encoding",
    }
    return {str(c): _answer(text[c], _ref("Problem")) for c in codes}


def _push(item: str, summary: str) -> dict[str, Any]:
    batch = {"type": "array", "items": _ref(item), "maxItems": limits.MAX_ITEMS}
    return {
        "post": {
            "summary": summary,
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    _JSON: {"schema": batch},
                    _NDJSON: {"schema": {"type": "string", "description": f"one {item} per line"}},
                },
            },
            "responses": {
                "202": _answer(
                    "accepted; bad items listed (first 100) and counted", _ref("Ingested")
                ),
                **_problems(400, 401, 413, 415),
            },
        }
    }


def _get(summary: str, schema: dict[str, Any], media: str = _JSON) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": _answer("OK", schema, media)}}}


_SILENCE_IN: Final = {
    "type": "object",
    "description": "Alertmanager's PostableSilence; duration (e.g. 2h) may stand in for endsAt",
    "properties": {
        "matchers": {
            "type": "array",
            "maxItems": 32,
            "items": {
                "oneOf": [
                    {"type": "string", "description": 'e.g. edge="a->b"'},
                    {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "maxLength": 256},
                            "value": {"type": "string", "maxLength": 1024},
                            "isRegex": {"type": "boolean"},
                            "isEqual": {"type": "boolean"},
                        },
                        "required": ["name", "value"],
                    },
                ]
            },
        },
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string", "format": "date-time"},
        "duration": {"type": "string", "examples": ["2h"]},
        "createdBy": {"type": "string", "maxLength": 256},
        "comment": {"type": "string", "maxLength": 2048},
    },
    "required": ["matchers", "createdBy", "comment"],
}
_SILENCE_OUT: Final = {
    "type": "object",
    "description": "Alertmanager's GettableSilence",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "object", "properties": {"state": {"type": "string"}}},
        "updatedAt": {"type": "string", "format": "date-time"},
        "matchers": {"type": "array", "items": {"type": "object"}},
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string", "format": "date-time"},
        "createdBy": {"type": "string"},
        "comment": {"type": "string"},
    },
}
_ANY_LIST: Final = {"type": "array", "items": {"type": "object"}}
_TEXT: Final = "text/plain"
_NAMES: Final = {"_ObservationWire": "Observation", "_CountSampleWire": "CountSample"}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once; it depends on code only, not on the config)."""
    _, generated = msgspec.json.schema_components(
        [_ObservationWire, _CountSampleWire], ref_template="#/components/schemas/{name}"
    )
    # The wire structs are private subclasses; publish them under their public names.
    renamed = msgspec.json.encode(generated)
    for private, public in _NAMES.items():
        renamed = renamed.replace(private.encode(), public.encode())
    components = msgspec.json.decode(renamed)
    for public, record in (("Observation", ObservationIn), ("CountSample", CountSampleIn)):
        components[public]["description"] = " ".join((record.__doc__ or "").split())
    schemas: dict[str, Any] = {
        **components,
        "Problem": _PROBLEM,
        "Ingested": {
            "type": "object",
            "properties": {
                "accepted": {"type": "integer"},
                "rejected": {"type": "integer"},
                "errors": {"type": "array", "maxItems": 100, "items": {"type": "object"}},
            },
        },
        "PostableSilence": _SILENCE_IN,
        "GettableSilence": _SILENCE_OUT,
    }
    paths: dict[str, Any] = {
        "/v1/observations": _push("Observation", "push observations (JSON array or NDJSON)"),
        "/v1/counts": _push("CountSample", "push count samples (JSON array or NDJSON)"),
        "/v1/aggregates": {
            "post": {
                "summary": "an agent's AggregateBatch (msgpack), applied at most once",
                "requestBody": {
                    "required": True,
                    "content": {"application/msgpack": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "200": _answer("applied or duplicate", {"type": "object"}),
                    **_problems(400, 401, 413, 415),
                },
            }
        },
        "/v1/traces": {
            "post": {
                "summary": "OTLP/HTTP ExportTraceServiceRequest (protobuf or JSON)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-protobuf": {"schema": {"type": "string"}},
                        _JSON: {"schema": {"type": "object"}},
                    },
                },
                "responses": {
                    "200": _answer("ExportTraceServiceResponse", {"type": "object"}),
                    **{
                        str(c): _answer("google.rpc.Status", {"type": "object"})
                        for c in (400, 401, 413, 415)
                    },
                },
            }
        },
        "/metrics": _get("Prometheus metrics", {"type": "string"}, _TEXT),
        "/healthz": _get("liveness", {"type": "string"}, _TEXT),
        "/readyz": {
            "get": {
                "summary": "readiness",
                "responses": {
                    "200": _answer("ready", {"type": "string"}, _TEXT),
                    "503": _answer("restoring state", {"type": "string"}, _TEXT),
                },
            }
        },
        "/-/ready": {
            "get": {
                "summary": "takes writes: 200 on the leader (or a server alone), 503 on a standby",
                "responses": {
                    "200": _answer("leader", {"type": "string"}, _TEXT),
                    "503": _answer("standby, or restoring state", {"type": "string"}, _TEXT),
                },
            }
        },
        "/api/v1/alerts": _get("firing alerts", _ANY_LIST),
        "/api/v1/pipelines": _get("pipelines and their hops", _ANY_LIST),
        "/api/v1/slos": _get("SLOs and their budgets", _ANY_LIST),
        "/api/v1/checks": _get("checks and their state", _ANY_LIST),
        "/api/v1/silences": {
            "get": {
                "summary": "silences, active first",
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["active", "pending", "expired"]},
                    }
                ],
                "responses": {
                    "200": _answer("OK", {"type": "array", "items": _ref("GettableSilence")}),
                    **_problems(400),
                },
            },
            "post": {
                "summary": "add a silence",
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _ref("PostableSilence")}},
                },
                "responses": {
                    "201": _answer("created", _ref("GettableSilence")),
                    **_problems(400, 401, 413),
                },
            },
        },
        "/api/v1/silences/{silence_id}": {
            "parameters": [
                {"name": "silence_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "summary": "one silence",
                "responses": {"200": _answer("OK", _ref("GettableSilence")), **_problems(404)},
            },
            "delete": {
                "summary": "expire a silence",
                "responses": {"204": _answer("expired"), **_problems(401, 404)},
            },
        },
        "/-/reload": {
            "post": {
                "summary": "reload the config file (as SIGHUP does); state of what did not "
                "change is kept",
                "responses": {
                    "200": _answer("reloaded", {"type": "object"}),
                    "400": _answer(
                        "the new config is invalid (errors listed); the previous one keeps running",
                        {
                            "type": "object",
                            "properties": {
                                "error": {"type": "string"},
                                "hint": {"type": "string"},
                                "status": {"type": "string"},
                                "errors": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    ),
                    **_problems(401),
                    "403": _answer("this runtime cannot reload", _ref("Problem")),
                },
            }
        },
        "/openapi.json": _get("this document", {"type": "object"}),
        "/": _get("the status page (HTML)", {"type": "string"}, "text/html"),
        "/edges/{pipeline}/{edge}": {
            "parameters": _EDGE_PATH,
            "get": {
                "summary": "one edge's history (HTML)",
                "responses": {
                    "200": _answer("OK", {"type": "string"}, "text/html"),
                    "404": _answer("no such edge", {"type": "string"}, "text/html"),
                },
            },
        },
        "/api/v1/edges/{pipeline}/{edge}": {
            "parameters": _EDGE_PATH,
            "get": {
                "summary": "one edge's closed buckets, oldest first (JSON)",
                "responses": {
                    "200": _answer("OK", _ANY_LIST),
                    "404": _answer("no such edge", {"type": "object"}),
                },
            },
        },
        "/api/v1/status": _get(
            "the last tick and alert counts (what the status page polls)", {"type": "object"}
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hopwatch",
            "version": "1",
            "description": "Watches an event pipeline hop by hop. Input limits: docs/config.md.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


async def openapi(_request: Request) -> Response:
    """The handler for ``GET /openapi.json``."""
    return Response(_encoded(), media_type=_JSON)


@cache
def _encoded() -> bytes:
    return msgspec.json.encode(document())
