"""The pipeline-side client: ``observe()`` never blocks or raises, and what it buffers arrives
exactly once when hopwatch is (back) up, up to the buffer bound, with every drop counted.

Against the real hopwatch app where arrival matters, against a fake hopwatch where the server
must misbehave (500, 400, 413, 429, hanging, absent). Nothing here asserts a duration: arrival is
awaited on conditions with generous deadlines, and non-blocking is shown by ``observe()``
returning while the sending thread is provably stuck (a hanging request, an absent server).
"""

from __future__ import annotations

import ast
import queue
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from client_support import GENEROUS, TOKEN, FakeHopwatch, fake_hopwatch, real_hopwatch

import monitor.client
from monitor.client import Backoff, HopReporter, ReporterStats
from monitor.client.buffer import HoldingQueue
from monitor.client.retry import MAX_RETRY_AFTER, parse_retry_after
from monitor.client.transport import Verdict, classify
from monitor.client.wire import chunks, encode
from monitor.testing import free_port

FAST = Backoff(base=0.02, cap=0.1)
"""Retries in quick succession, so that tests see several without waiting long."""


def reporter(url: str, **settings: Any) -> HopReporter:
    defaults: dict[str, Any] = {
        "token": TOKEN,
        "batch_size": 10,
        "flush_interval": 0.05,
        "timeout": 2.0,
        "backoff": FAST,
        "rng": random.Random(7),
    }
    return HopReporter(url, "shop", "web", **{**defaults, **settings})


def observe_many(r: HopReporter, ids: list[str]) -> list[bool]:
    now = time.time()
    return [r.observe(i, "signup", now - 1, attributes={"region": "eu"}) for i in ids]


def ids(n: int, prefix: str = "evt") -> list[str]:
    return [f"{prefix}-{k:04d}" for k in range(n)]


def accounted(stats: ReporterStats, observed: int) -> bool:
    """Every observation is somewhere: sent, dropped (by reason) or still pending."""
    return stats.observed == observed == stats.sent + stats.dropped + stats.pending


def eventually(condition: Callable[[], bool], timeout: float = GENEROUS) -> bool:
    """Poll ``condition`` until it holds; a generous deadline only guards against hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def fake(port: int) -> Iterator[FakeHopwatch]:
    with fake_hopwatch(port) as server:
        yield server


# --- against the real hopwatch ----------------------------------------------------------------


def test_observations_arrive_at_hopwatch_exactly_once(port: int) -> None:
    with real_hopwatch(port) as (runtime, arrivals):
        r = reporter(f"http://127.0.0.1:{port}")
        sent = ids(25)
        assert all(observe_many(r, sent))
        assert r.flush(GENEROUS)
        stats = r.stats()
        assert r.close(GENEROUS)
    assert dict(arrivals.ids) == dict.fromkeys(sent, 1)
    assert runtime.engine.view().hop_totals == {("shop", "web", "ok"): 25}
    assert (stats.sent, stats.dropped, stats.pending, stats.failures) == (25, 0, 0, 0)
    assert stats.batches >= 3  # batches of at most 10
    assert accounted(stats, 25)


def test_items_hopwatch_rejects_are_counted_and_the_rest_of_the_batch_arrives(port: int) -> None:
    with real_hopwatch(port) as (_runtime, arrivals):
        r = reporter(f"http://127.0.0.1:{port}")
        observe_many(r, ids(4))
        r.observe_at("shop", "no-such-hop", "stray", "signup", time.time())
        assert r.flush(GENEROUS)
        stats = r.stats()
        r.close()
    assert dict(arrivals.ids) == dict.fromkeys(ids(4), 1)
    assert (stats.sent, stats.dropped_rejected, stats.retries) == (4, 1, 0)
    assert stats.last_error is not None and "no-such-hop" in stats.last_error
    assert accounted(stats, 5)


def test_a_wrong_token_is_rejected_once_and_never_retried(port: int) -> None:
    with real_hopwatch(port) as (_runtime, arrivals):
        r = reporter(f"http://127.0.0.1:{port}", token="not-the-token")
        observe_many(r, ids(3))
        assert r.flush(GENEROUS)
        stats = r.stats()
        r.close()
    assert not arrivals.ids
    assert (stats.dropped_rejected, stats.retries, stats.failures) == (3, 0, 0)
    assert stats.last_error is not None and "HTTP 401" in stats.last_error


def test_observations_buffered_while_hopwatch_is_down_arrive_once_it_is_up(port: int) -> None:
    r = reporter(f"http://127.0.0.1:{port}", max_queue=50)
    kept, beyond = ids(50), ids(30, "late")
    assert all(observe_many(r, kept)), "the first max_queue observations are buffered"
    assert not any(observe_many(r, beyond)), "beyond the bound they are dropped"
    assert eventually(lambda: r.stats().failures >= 2), "it tried, and retried, while down"
    down = r.stats()
    assert (down.queued, down.pending, down.dropped_queue_full, down.sent) == (50, 50, 30, 0)
    with real_hopwatch(port) as (_runtime, arrivals):
        assert r.flush(GENEROUS)
        up = r.stats()
        r.close()
    assert dict(arrivals.ids) == dict.fromkeys(kept, 1)
    assert (up.sent, up.dropped_queue_full, up.pending) == (50, 30, 0)
    assert up.retries >= 1
    assert accounted(up, 80)


# --- against a misbehaving hopwatch -------------------------------------------------------------


def test_while_hopwatch_answers_500_observe_returns_and_the_batch_arrives_after(
    fake: FakeHopwatch,
) -> None:
    fake.mode = "fail"
    r = reporter(fake.url, max_queue=40)
    assert all(observe_many(r, ids(25)))
    assert fake.arrivals.wait_for(lambda a: a.requests["fail"] >= 3), "it retries"
    assert all(observe_many(r, ids(15, "more"))), "observe keeps returning while failing"
    assert not any(observe_many(r, ids(5, "over"))), "…and drops beyond the bound"
    failing = r.stats()
    # Three requests seen by the server: the client has counted at least the two it retried.
    assert failing.failures >= 2 and failing.sent == 0 and failing.dropped_queue_full == 5
    fake.mode = "ok"
    assert r.flush(GENEROUS)
    stats = r.stats()
    r.close()
    assert dict(fake.arrivals.ids) == dict.fromkeys(ids(25) + ids(15, "more"), 1)
    assert (stats.sent, stats.dropped_queue_full, stats.pending) == (40, 5, 0)
    assert accounted(stats, 45)


def test_while_hopwatch_hangs_observe_returns_and_the_batch_arrives_after(
    fake: FakeHopwatch,
) -> None:
    fake.mode = "hang"
    r = reporter(fake.url, timeout=0.5, max_queue=30)
    assert all(observe_many(r, ids(10)))
    assert fake.arrivals.wait_for(lambda a: a.requests["hang"] >= 1), "a request is stuck"
    # The sending thread is inside a request that will not be answered; observe still returns.
    assert all(observe_many(r, ids(20, "during")))
    assert not any(observe_many(r, ids(3, "over")))
    assert fake.arrivals.wait_for(lambda a: a.requests["hang"] >= 2), "timed out and retried"
    fake.mode = "ok"
    assert r.flush(GENEROUS)
    stats = r.stats()
    r.close()
    assert dict(fake.arrivals.ids) == dict.fromkeys(ids(10) + ids(20, "during"), 1)
    assert stats.failures >= 1 and stats.last_error is not None
    assert (stats.sent, stats.dropped_queue_full, stats.pending) == (30, 3, 0)
    assert accounted(stats, 33)


def test_a_400_is_counted_as_rejected_and_never_retried(fake: FakeHopwatch) -> None:
    fake.mode = "bad"
    r = reporter(fake.url)
    observe_many(r, ids(7))
    assert r.flush(GENEROUS)
    stats = r.stats()
    r.close()
    assert fake.arrivals.requests == {"bad": 1}
    assert (stats.dropped_rejected, stats.retries, stats.failures, stats.sent) == (7, 0, 0, 0)
    assert accounted(stats, 7)


def test_a_429_is_retried_and_then_delivered(fake: FakeHopwatch) -> None:
    fake.mode = "busy"
    r = reporter(fake.url)
    observe_many(r, ids(5))
    assert fake.arrivals.wait_for(lambda a: a.requests["busy"] >= 2)
    fake.mode = "ok"
    assert r.flush(GENEROUS)
    stats = r.stats()
    r.close()
    assert dict(fake.arrivals.ids) == dict.fromkeys(ids(5), 1)
    assert stats.failures >= 1 and stats.sent == 5


def test_a_413_splits_the_batch_until_it_fits(fake: FakeHopwatch) -> None:
    fake.max_lines = 3
    r = reporter(fake.url, batch_size=10)
    observe_many(r, ids(10))
    assert r.flush(GENEROUS)
    stats = r.stats()
    r.close()
    assert dict(fake.arrivals.ids) == dict.fromkeys(ids(10), 1)
    assert (stats.sent, stats.dropped, stats.retries) == (10, 0, 0)


def test_items_listed_as_rejected_in_a_202_are_counted(fake: FakeHopwatch) -> None:
    fake.reject_ids = frozenset({"evt-0001", "evt-0003"})
    r = reporter(fake.url)
    observe_many(r, ids(5))
    assert r.flush(GENEROUS)
    stats = r.stats()
    r.close()
    assert (stats.sent, stats.dropped_rejected) == (3, 2)
    assert stats.last_error == "item rejected: refused by the fake"


# --- observe never raises -----------------------------------------------------------------------

NOW = 1_700_000_000.0
BAD_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("an event type that is not a string", ("e", 42, NOW), {}),
    ("an empty event type", ("e", "", NOW), {}),
    ("an event id that is not a string", (12345, "signup", NOW), {}),
    ("an event time that is None", ("e", "signup", None), {}),
    ("an event time that is not a number", ("e", "signup", [1, 2]), {}),
    ("an event time that is NaN", ("e", "signup", float("nan")), {}),
    ("an event time that is a bool", ("e", "signup", True), {}),
    ("an unknown status", ("e", "signup", NOW), {"status": "maybe"}),
    ("an unhashable status", ("e", "signup", NOW), {"status": ["ok"]}),
    ("a reason that is not a string", ("e", "signup", NOW), {"reason": 3}),
    ("attributes that are not a mapping", ("e", "signup", NOW), {"attributes": 5}),
    ("an attribute value that is not a scalar", ("e", "signup", NOW), {"attributes": {"a": {}}}),
    ("an attribute key that is not a string", ("e", "signup", NOW), {"attributes": {1: "x"}}),
]


@pytest.mark.parametrize(
    ("args", "kwargs"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_observe_with_a_bad_value_does_not_raise_and_is_counted(
    fake: FakeHopwatch, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    r = reporter(fake.url)
    r.observe(*args, **kwargs)
    r.observe("good", "signup", time.time())
    assert r.flush(GENEROUS)
    stats = r.stats()
    r.close()
    assert (stats.dropped_invalid, stats.sent) == (1, 1)
    assert stats.last_error
    assert fake.arrivals.ids == {"good": 1}


def test_good_values_of_every_accepted_kind_are_sent(fake: FakeHopwatch) -> None:
    r = reporter(fake.url)
    r.observe("a", "signup", 1_700_000_000)
    r.observe("b", "signup", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), status="rejected")
    r.observe("c", "signup", datetime(2023, 11, 14, 22, 13, 20), reason="consent_denied")
    r.observe("d", "signup", "2023-11-14T22:13:20Z", attributes={"region": "eu"})
    r.observe(None, "signup", NOW)
    assert r.flush(GENEROUS)
    r.close()
    by_id = {item.get("event_id"): item for item in fake.arrivals.items}
    assert {k: v["event_time"] for k, v in by_id.items()} == {
        "a": NOW,
        "b": NOW,
        "c": NOW,
        "d": "2023-11-14T22:13:20Z",
        None: NOW,
    }
    assert by_id["b"]["status"] == "rejected" and by_id["c"]["reason"] == "consent_denied"
    assert by_id["d"]["attributes"] == {"region": "eu"} and "event_id" not in by_id[None]
    assert all(item["observed_time"] > NOW for item in fake.arrivals.items)


def test_the_caller_may_change_its_attributes_after_observe(fake: FakeHopwatch) -> None:
    r = reporter(fake.url)
    attributes = {"region": "eu"}
    r.observe("a", "signup", NOW, attributes=attributes)
    attributes["region"] = "us"
    assert r.flush(GENEROUS)
    r.close()
    assert fake.arrivals.items[0]["attributes"] == {"region": "eu"}


# --- close, flush and exit ----------------------------------------------------------------------


def test_close_gives_up_what_it_cannot_send_and_counts_it(port: int) -> None:
    r = reporter(f"http://127.0.0.1:{port}")  # nothing listens there
    observe_many(r, ids(5))
    assert not r.flush(0.2), "flush reports that nothing could be delivered"
    assert not r.close(0.3)
    assert r.observe("after", "signup", NOW) is False
    stats = r.stats()
    assert (stats.dropped_unsent, stats.dropped_closed, stats.pending, stats.sent) == (5, 1, 0, 0)
    assert accounted(stats, 6)
    assert not r.close(0.1), "close is idempotent and still says something was lost"


def test_close_delivers_what_is_buffered(fake: FakeHopwatch) -> None:
    r = reporter(fake.url, flush_interval=3600)  # only close can send these
    observe_many(r, ids(3))
    assert r.close(GENEROUS)
    assert dict(fake.arrivals.ids) == dict.fromkeys(ids(3), 1)


def test_buffered_observations_are_sent_at_interpreter_exit(fake: FakeHopwatch) -> None:
    script = (
        "from monitor.client import HopReporter\n"
        f"r = HopReporter({fake.url!r}, 'shop', 'web', flush_interval=3600)\n"
        "for i in range(3):\n"
        f"    r.observe(f'exit-{{i}}', 'signup', {NOW})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=GENEROUS)
    assert dict(fake.arrivals.ids) == {"exit-0": 1, "exit-1": 1, "exit-2": 1}


def test_settings_that_cannot_work_are_refused_when_the_reporter_is_made() -> None:
    with pytest.raises(ValueError, match=r"max_queue must be > 0, got 0; timeout must be > 0"):
        HopReporter("http://127.0.0.1:1", "shop", "web", max_queue=0, timeout=-1)
    with pytest.raises(
        ValueError,
        match=r"url must be http\(s\)://host:port or kafka://host:port\[,…\]/topic, got '127.0.0.1:9464'",
    ):
        HopReporter("127.0.0.1:9464", "shop", "web")


# --- the parts, one decision each ---------------------------------------------------------------


def test_the_buffer_bound_counts_taken_but_unsettled_items() -> None:
    buffer = HoldingQueue(3)
    for n in range(3):
        buffer.put_nowait(n)
    assert buffer.take(2) == [0, 1]
    with pytest.raises(queue.Full):
        buffer.put_nowait(3)  # two are taken, but not settled: still full
    buffer.settle(2)
    buffer.put_nowait(3)
    buffer.put_nowait(4)
    assert buffer.counts() == (5, 3)
    assert not buffer.wait_settled(3, 0.0)
    buffer.settle(len(buffer.take(1)))
    assert buffer.wait_settled(3, 0.0)


@pytest.mark.parametrize(
    ("status", "headers", "body", "verdict", "accepted"),
    [
        (202, {}, b'{"accepted": 8, "rejected": 2, "errors": []}', Verdict.DELIVERED, 8),
        (200, {}, b"", Verdict.DELIVERED, 10),
        (500, {}, b"", Verdict.RETRY, 0),
        (503, {"Retry-After": "7"}, b"", Verdict.RETRY, 0),
        (429, {"Retry-After": "2"}, b"", Verdict.RETRY, 0),
        (408, {}, b"", Verdict.RETRY, 0),
        (400, {}, b'{"error": "body is not JSON", "hint": "send NDJSON"}', Verdict.REJECTED, 0),
        (401, {}, b"", Verdict.REJECTED, 0),
        (404, {}, b"", Verdict.REJECTED, 0),
        (415, {}, b"", Verdict.REJECTED, 0),
        (413, {}, b"", Verdict.TOO_LARGE, 0),
    ],
    ids=lambda v: str(v) if isinstance(v, int | Verdict) else None,
)
def test_each_answer_is_classified(
    status: int, headers: dict[str, str], body: bytes, verdict: Verdict, accepted: int
) -> None:
    import httpx

    answer = classify(status, httpx.Headers(headers), body, 10)
    assert (answer.verdict, answer.accepted) == (verdict, accepted)
    if "Retry-After" in headers:
        assert answer.retry_after == float(headers["Retry-After"])


def test_a_rejection_names_hopwatchs_error_and_hint() -> None:
    import httpx

    body = b'{"error": "body is not JSON", "hint": "send NDJSON"}'
    assert classify(400, httpx.Headers(), body, 1).detail == (
        "HTTP 400: body is not JSON (send NDJSON)"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("-3", 0.0),
        (format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True), 30.0),
        (format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
    ids=["seconds", "zero", "negative", "a date ahead", "a date past", "garbage", "empty", "none"],
)
def test_retry_after_is_read_as_seconds_or_a_date(header: str | None, expected: float) -> None:
    assert parse_retry_after(header, NOW) == expected


def test_backoff_draws_up_to_a_doubling_capped_ceiling() -> None:
    backoff, rng = Backoff(base=0.5, cap=4.0), random.Random(1)
    assert [backoff.ceiling(a) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.ceiling(10_000) == 4.0
    for attempt in range(8):
        draws = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= backoff.ceiling(attempt) for d in draws)
        assert max(draws) > 0.5 * backoff.ceiling(attempt), "full jitter spans the range"


def test_retry_after_wins_over_the_draw_up_to_a_limit() -> None:
    rng = random.Random(1)
    assert Backoff(cap=1.0).delay(0, rng, retry_after=20.0) == 20.0
    assert Backoff().delay(0, rng, retry_after=1e9) == MAX_RETRY_AFTER


def test_lines_are_cut_into_bodies_within_the_byte_limit() -> None:
    lines = [b"a" * 9] * 5  # 10 bytes each with the newline
    assert [len(c) for c in chunks(lines, 25)] == [2, 2, 1]
    assert [len(c) for c in chunks(lines, 5)] == [1, 1, 1, 1, 1], "an oversized line goes alone"
    assert list(chunks([], 25)) == []


def test_an_invalid_item_is_left_out_of_its_batch_with_the_reason() -> None:
    good = ("shop", "web", "e", "signup", NOW, "ok", None, None, NOW)
    bad = ("shop", "web", "e", "signup", NOW, "fine", None, None, NOW)
    encoded = encode([good, bad, good])
    assert (len(encoded.lines), encoded.invalid) == (2, 1)
    assert encoded.first_error == "status: 'fine' is not one of dropped, failed, ok, rejected"


# --- the package stays light ---------------------------------------------------------------------

CLIENT = Path(monitor.client.__file__).parent
ALLOWED = {"httpx", "opentelemetry", "monitor.client", "confluent_kafka"}  # kafka.py, optional


@pytest.mark.parametrize("path", sorted(CLIENT.glob("*.py")), ids=lambda p: p.name)
def test_the_client_imports_only_the_standard_library_httpx_and_opentelemetry(path: Path) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module)
    foreign = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names
        and not any(name == a or name.startswith(a + ".") for a in ALLOWED)
    }
    assert not foreign, f"{path.name} imports {sorted(foreign)}; the client must stay light"


def test_the_public_surface_is_small() -> None:
    assert monitor.client.__all__ == ["Backoff", "HopReporter", "ReporterStats"]


def test_every_retry_of_a_batch_carries_the_same_idempotency_key(fake: FakeHopwatch) -> None:
    """So a batch hopwatch took but whose answer was lost is not counted twice (see
    tests/test_server.py for the server's side)."""
    fake.mode = "fail"
    r = reporter(fake.url, batch_size=5)
    observe_many(r, ids(5))
    assert fake.arrivals.wait_for(lambda a: a.requests["fail"] >= 2), "retried"
    fake.mode = "ok"
    assert r.flush(GENEROUS)
    observe_many(r, ids(5, "next"))
    assert r.flush(GENEROUS)
    r.close()
    first, *retries, second = fake.keys
    assert first is not None and set(retries) == {first}
    assert second is not None and second != first
