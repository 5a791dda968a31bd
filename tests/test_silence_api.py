"""``/api/v1/silences`` as a client sees it: 201 / 400 / 404 / 204, auth, and silenced alerts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from monitor.alerting.alert import Alert, labels_of
from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, ServerConfig
from monitor.server.app import create_app
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def runtime() -> StaticRuntime:
    return StaticRuntime(
        Config(server=ServerConfig(auth=AuthPolicy.single_token(TOKEN))), FakeClock(T0)
    )


@pytest.fixture
def client(runtime: StaticRuntime) -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        yield client


def body(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "matchers": ['edge="identity->activation"'],
        "duration": "2h",
        "createdBy": "ana",
        "comment": "resolver deploy",
    }
    out.update(kw)
    return {k: v for k, v in out.items() if v is not None}


def test_post_creates_a_silence_and_answers_201_with_it(client: httpx.Client) -> None:
    response = client.post("/api/v1/silences", json=body(), headers=AUTH)

    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/api/v1/silences/{created['id']}"
    assert created == {
        "id": created["id"],
        "status": {"state": "active"},
        "updatedAt": "2023-11-14T22:13:20Z",
        "matchers": [
            {"name": "edge", "value": "identity->activation", "isRegex": False, "isEqual": True}
        ],
        "startsAt": "2023-11-14T22:13:20Z",
        "endsAt": "2023-11-15T00:13:20Z",
        "createdBy": "ana",
        "comment": "resolver deploy",
    }
    assert client.get(f"/api/v1/silences/{created['id']}").json() == created


def test_matcher_objects_and_explicit_times_are_accepted(client: httpx.Client) -> None:
    matchers = [
        {"name": "hop", "value": "id.*", "isRegex": True},
        {"name": "team", "value": "growth", "isRegex": False, "isEqual": False},
    ]
    response = client.post(
        "/api/v1/silences",
        json=body(
            matchers=matchers,
            duration=None,
            startsAt="2023-11-15T00:00:00+01:00",
            endsAt="2023-11-15T01:00:00Z",
        ),
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    got = response.json()
    assert (got["status"], got["startsAt"], got["endsAt"]) == (
        {"state": "pending"},
        "2023-11-14T23:00:00Z",
        "2023-11-15T01:00:00Z",
    )
    assert [m["isEqual"] for m in got["matchers"]] == [True, False]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"matchers": []}, "matchers", "at least one matcher"),
        ({"matchers": ['x=~".*"']}, "matchers", "would mute every alert"),
        ({"matchers": ['hop=~"(x"']}, "matchers[0]", "invalid regular expression"),
        (
            {"matchers": [{"name": "hop", "value": "(x", "isRegex": True}]},
            "matchers[0].value",
            "invalid regular expression",
        ),
        (
            {"matchers": [{"name": "hop", "value": "x", "regex": True}]},
            "matchers[0].regex",
            "unknown field",
        ),
        ({"matchers": "a=b"}, "matchers", "must be a list"),
        ({"duration": "2 hours"}, "duration", "is not a duration"),
        ({"duration": None}, "endsAt", "exactly one"),
        ({"endsAt": "2023-11-15T00:00:00Z"}, "endsAt", "exactly one"),
        ({"duration": None, "endsAt": "2023-11-14T00:00:00Z"}, "endsAt", "ends before it starts"),
        ({"duration": None, "endsAt": "2023-11-15T00:00:00"}, "endsAt", "with a zone"),
        ({"startsAt": "tomorrow"}, "startsAt", "RFC 3339"),
        ({"createdBy": None}, "createdBy", "createdBy is required"),
        ({"comment": ""}, "comment", "comment is required"),
        ({"comment": 42}, "comment", "must be a string"),
        ({"id": "abc"}, "id", "unknown field 'id'"),
    ],
    ids=[
        "no matchers",
        "matchers that mute every alert",
        "an invalid regex in a string matcher",
        "an invalid regex in a matcher object",
        "an unknown matcher field",
        "matchers not a list",
        "an unparsable duration",
        "neither end nor duration",
        "both end and duration",
        "an end in the past",
        "a time without a zone",
        "a start that is not a time",
        "no author",
        "an empty comment",
        "a comment that is not a string",
        "an unknown field",
    ],
)
def test_invalid_silences_are_400_naming_the_field(
    client: httpx.Client, runtime: StaticRuntime, change: dict[str, Any], field: str, words: str
) -> None:
    payload = body()
    for key, value in change.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value

    response = client.post("/api/v1/silences", json=payload, headers=AUTH)

    assert response.status_code == 400
    error = response.json()
    assert error["field"] == field
    assert words in error["error"]
    assert error["hint"]
    assert len(runtime.silences) == 0


def test_a_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    response = client.post("/api/v1/silences", content=b"{nope", headers=AUTH)
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]


def test_a_body_over_64_kib_is_413(client: httpx.Client) -> None:
    response = client.post("/api/v1/silences", json=body(comment="x" * 70_000), headers=AUTH)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/silences"), ("DELETE", "/api/v1/silences/x")],
    ids=["create", "expire"],
)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}],
    ids=["without a token", "with the wrong token"],
)
def test_writes_need_the_bearer_token(
    client: httpx.Client, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, json=body(), headers=headers)
    assert response.status_code == 401
    assert "bearer" in response.json()["error"].lower()


def test_reads_are_open_like_the_rest_of_the_api(client: httpx.Client) -> None:
    assert client.get("/api/v1/silences").status_code == 200


def test_delete_expires_and_is_idempotent_and_unknown_ids_are_404(
    client: httpx.Client, runtime: StaticRuntime
) -> None:
    silence_id = client.post("/api/v1/silences", json=body(), headers=AUTH).json()["id"]
    runtime.clock.advance(60)

    assert client.delete(f"/api/v1/silences/{silence_id}", headers=AUTH).status_code == 204
    got = client.get(f"/api/v1/silences/{silence_id}").json()
    assert (got["status"], got["endsAt"]) == ({"state": "expired"}, "2023-11-14T22:14:20Z")
    assert client.delete(f"/api/v1/silences/{silence_id}", headers=AUTH).status_code == 204

    missing = client.delete("/api/v1/silences/nope", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["field"] == "id"
    assert client.get("/api/v1/silences/nope").status_code == 404


def test_list_filters_by_state_and_drops_silences_expired_five_days_ago(
    client: httpx.Client, runtime: StaticRuntime
) -> None:
    ids = [
        client.post("/api/v1/silences", json=body(matchers=[f"n={i}"]), headers=AUTH).json()["id"]
        for i in range(3)
    ]
    client.delete(f"/api/v1/silences/{ids[0]}", headers=AUTH)

    def listed(query: str = "") -> list[str]:
        response = client.get("/api/v1/silences" + query)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()]

    assert sorted(listed("?state=active")) == sorted(ids[1:])
    assert listed("?state=expired") == [ids[0]]
    assert len(listed("?state=active,expired")) == 3
    assert len(listed("?state=active&state=pending")) == 2
    bad = client.get("/api/v1/silences?state=muted")
    assert (bad.status_code, bad.json()["field"]) == (400, "state")

    runtime.clock.advance(5 * 86400)  # the first expired 5 days ago, the others 2 h later
    assert sorted(listed("?state=expired")) == sorted(ids[1:])
    assert len(runtime.silences) == 2


def test_alerts_show_the_silences_that_mute_them(
    client: httpx.Client, runtime: StaticRuntime
) -> None:
    muted = Alert(
        labels_of({"alertname": "EdgeLoss", "edge": "identity->activation"}), starts_at=T0
    )
    other = Alert(labels_of({"alertname": "EdgeLoss", "edge": "sdk->edge"}), starts_at=T0)
    runtime.engine.load_alerts([muted, other])
    silence_id = client.post("/api/v1/silences", json=body(), headers=AUTH).json()["id"]

    def silenced_by() -> dict[str, list[str]]:
        alerts = client.get("/api/v1/alerts").json()
        return {a["labels"]["edge"]: a["silenced_by"] for a in alerts}

    assert silenced_by() == {"identity->activation": [silence_id], "sdk->edge": []}
    runtime.clock.advance(2 * 3600)
    assert silenced_by() == {"identity->activation": [], "sdk->edge": []}
