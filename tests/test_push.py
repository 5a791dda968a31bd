"""Push decoding: every kind of bad item is rejected alone, with its field and an exact message."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Edge, Hop, Pipeline, ServerConfig
from monitor.records import CountSample, Observation
from monitor.sources.push import (
    MAX_ERRORS,
    BodyError,
    ItemError,
    PushBatch,
    decode_counts,
    decode_observations,
)

NOW = 1_700_000_000.0
SHOP = Pipeline(
    name="shop",
    hops=(Hop("web"), Hop("sink")),
    edges=(Edge("web", "sink"),),
    attributes=frozenset({"region", "consent"}),
)
CONFIG = Config(
    server=ServerConfig(max_future_skew=300.0, auth=AuthPolicy.open_writes()), pipelines=(SHOP,)
)


def good(event_id: str = "e1", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pipeline": "shop",
        "hop": "web",
        "event_type": "order",
        "event_id": event_id,
        "event_time": NOW - 10,
    }
    item.update(extra)
    return item


def encoded(item: Any) -> bytes:
    """An item as JSON; ``bytes`` are sent as they are (bad UTF-8, numbers JSON cannot hold)."""
    return item if isinstance(item, bytes) else msgspec.json.encode(item)


def raw(item: dict[str, Any], **replace: bytes) -> bytes:
    """``item`` as JSON with the value of each field in ``replace`` spelled as the given bytes."""
    out = encoded(item)
    for name, value in replace.items():
        out = out.replace(
            b'"%s":%s' % (name.encode(), encoded(item[name])), b'"%s":%s' % (name.encode(), value)
        )
    return out


def as_array(items: list[Any]) -> bytes:
    return b"[" + b",".join(encoded(i) for i in items) + b"]"


def as_ndjson(items: list[Any]) -> bytes:
    return b"".join(encoded(i) + b"\n" for i in items)


def decode(body: bytes, content_type: str | None = None) -> PushBatch[Observation]:
    return decode_observations(body, content_type=content_type, config=CONFIG, now=NOW)


BAD_ITEMS = [
    pytest.param(
        good(pipeline="billing"),
        "pipeline",
        "unknown_pipeline",
        "unknown pipeline 'billing'; known pipelines: shop",
        id="an unknown pipeline is rejected and the known ones are listed",
    ),
    pytest.param(
        good(hop="cache"),
        "hop",
        "unknown_hop",
        "unknown hop 'cache' in pipeline 'shop'; known hops: web, sink",
        id="an unknown hop is rejected and the pipeline's hops are listed",
    ),
    pytest.param(
        good(hop=7),
        "hop",
        "invalid_value",
        "hop: Expected `str`, got `int`",
        id="a hop that is not a string is an invalid value",
    ),
    pytest.param(
        {k: v for k, v in good().items() if k != "event_type"},
        "event_type",
        "missing_field",
        "missing required field 'event_type'",
        id="a missing required field is named",
    ),
    pytest.param(
        ["not", "an", "object"],
        None,
        "malformed",
        "item is not a JSON object: Expected `object`, got `array`",
        id="an item that is not an object is malformed",
    ),
    pytest.param(
        good(status="lost"),
        "status",
        "invalid_value",
        "status: Invalid enum value 'lost'",
        id="a status outside ok/rejected/failed/dropped is an invalid value",
    ),
    pytest.param(
        good(event_time="yesterday"),
        "event_time",
        "invalid_value",
        "event_time: Invalid RFC3339 encoded datetime",
        id="an event_time that is neither RFC 3339 nor a number is an invalid value",
    ),
    pytest.param(
        good(event_time=NOW + 301),
        "event_time",
        "future_event_time",
        "event_time 2023-11-14T22:18:21Z is 5m1s ahead of hopwatch's clock (more than 5m "
        "allowed); check the sender's clock and that the time is in seconds, not milliseconds",
        id="an event_time more than max_future_skew ahead is rejected",
    ),
    pytest.param(
        good(event_time=(NOW + 60) * 1000),
        "event_time",
        "future_event_time",
        "event_time 1700000060000.0 is 19656250d16h40m ahead of hopwatch's clock "
        "(more than 5m allowed); check the sender's clock and that the time is in seconds, "
        "not milliseconds",
        id="milliseconds sent as seconds land far in the future",
    ),
    pytest.param(
        good(event_time=NOW - 35 * 86400 - 1),
        "event_time",
        "too_old",
        "event_time 2023-10-10T22:13:19Z is older than storage.retention (35d); "
        "it can no longer be counted",
        id="an event_time older than retention is too old",
    ),
    pytest.param(
        good(observed_time=NOW + 3600),
        "observed_time",
        "invalid_value",
        "observed_time 2023-11-14T23:13:20Z is 1h ahead of hopwatch's clock (more than 5m "
        "allowed); check the sender's clock and that the time is in seconds, not milliseconds",
        id="an observed_time far in the future is an invalid value",
    ),
    pytest.param(
        good(observed_time=-1e300),
        "observed_time",
        "invalid_value",
        "observed_time -1e+300 is older than storage.retention (35d); "
        "send the time the hop saw the event",
        id="an observed_time older than retention is an invalid value",
    ),
    pytest.param(
        good(observed_time=NOW - 10 - 301),
        "observed_time",
        "invalid_value",
        "observed_time 2023-11-14T22:08:09Z is 5m1s before event_time 2023-11-14T22:13:10Z "
        "(more than 5m allowed): a hop cannot see an event before it exists; check the sender's "
        "clock and that the time is in seconds, not milliseconds",
        id="an observed_time before the event existed is an invalid value",
    ),
    pytest.param(
        raw(good(), event_time=b"1e400"),
        "event_time",
        "invalid_value",
        "event_time: Number out of range",
        id="an event_time too large for a float is an invalid value",
    ),
    pytest.param(
        raw(good(observed_time=NOW), observed_time=b"-1e400"),
        "observed_time",
        "invalid_value",
        "observed_time: Number out of range",
        id="an observed_time too large for a float is an invalid value",
    ),
    pytest.param(
        raw(good(event_type="order"), event_type=b'"ord\xffer"'),
        None,
        "malformed",
        "item is not valid UTF-8 (invalid start byte); JSON text must be UTF-8, so encode "
        "strings as UTF-8 before sending",
        id="an item with bytes that are not UTF-8 is malformed",
    ),
    pytest.param(
        good(attributes={"region": 3}),
        "attributes.region",
        "invalid_value",
        "attributes.region: expected a string, got a number; allow-listed attribute values are "
        "compared as text, so send them as JSON strings",
        id="an allow-listed attribute that is not a string is an invalid value",
    ),
]


@pytest.mark.parametrize(("bad", "field", "reason", "message"), BAD_ITEMS)
@pytest.mark.parametrize("framing", [as_array, as_ndjson], ids=["array", "ndjson"])
def test_a_bad_item_is_rejected_alone(
    framing: Any, bad: Any, field: str | None, reason: str, message: str
) -> None:
    batch = decode(framing([good("e1"), bad, good("e3")]))

    assert [o.event_id for o in batch.accepted] == ["e1", "e3"]
    line = 2 if framing is as_ndjson else None
    assert batch.errors == (ItemError(1, field, message, reason, line),)
    assert batch.rejected == {reason: 1}


def test_ndjson_and_array_give_the_same_records() -> None:
    items = [good("e1", attributes={"region": "eu"}), good("e2", hop="sink", status="failed")]
    assert decode(as_array(items)).accepted == decode(as_ndjson(items)).accepted


def test_a_good_item_becomes_an_observation_with_defaults_filled() -> None:
    batch = decode(as_array([good("e1", attributes={"region": "eu", "consent": "granted"})]))

    assert batch.accepted == (
        Observation(
            pipeline="shop",
            hop="web",
            event_type="order",
            event_time=NOW - 10,
            observed_time=NOW,
            status="ok",
            event_id="e1",
            attributes=(("consent", "granted"), ("region", "eu")),
        ),
    )


def test_rfc3339_times_are_epoch_seconds() -> None:
    item = good(event_time="2023-11-14T22:13:10Z", observed_time="2023-11-14T22:13:15.5+00:00")
    (obs,) = decode(as_array([item])).accepted
    assert (obs.event_time, obs.observed_time) == (NOW - 10, NOW - 4.5)


def test_attributes_outside_the_allow_list_are_dropped_and_counted_per_item() -> None:
    items = [good("e1", attributes={"region": "eu", "email": "a@b.c"}) for _ in range(3)]
    batch = decode(as_array(items))

    assert [o.attributes for o in batch.accepted] == [(("region", "eu"),)] * 3
    assert batch.dropped_attributes == {"shop": 3}
    assert batch.rejected == {}


def test_blank_lines_in_ndjson_are_skipped_and_errors_name_the_line() -> None:
    body = b"\n" + as_ndjson([good("e1")]) + b"\n  \n" + as_ndjson([good("e2", hop="x")])
    batch = decode(body, "application/x-ndjson")

    assert [o.event_id for o in batch.accepted] == ["e1"]
    assert [(e.index, e.line, e.field) for e in batch.errors] == [(1, 5, "hop")]


def test_an_ndjson_line_that_is_not_json_is_rejected_alone() -> None:
    body = as_ndjson([good("e1")]) + b"{oops\n" + as_ndjson([good("e3")])
    batch = decode(body)

    assert [o.event_id for o in batch.accepted] == ["e1", "e3"]
    assert batch.errors == (
        ItemError(
            1,
            None,
            "line is not valid JSON: JSON is malformed: object keys must be strings (byte 1)",
            "malformed",
            2,
        ),
    )


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b"\n\n", b" [ ] "],
    ids=["an empty body", "an empty array", "only blank lines", "an array of spaces"],
)
def test_zero_items_is_an_empty_batch(body: bytes) -> None:
    assert decode(body) == PushBatch()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"pipeline": ', "body is not valid JSON: Input data was truncated"),
        (b"nonsense", "body is not JSON or NDJSON: line 1: JSON is malformed: invalid character"),
        (b'[{"hop": "\xff"}, oops]', "body is not valid JSON: JSON is malformed: invalid char"),
        (b"\xff\xfe\x00\n\x80", "body is not JSON or NDJSON: line 1: JSON is malformed"),
    ],
    ids=[
        "a truncated array",
        "text that is not JSON",
        "an array that cannot be split into items, even if bytes are not UTF-8",
        "binary that is no line of JSON",
    ],
)
def test_a_body_that_does_not_parse_is_a_body_error(body: bytes, message: str) -> None:
    with pytest.raises(BodyError) as caught:
        decode(body)
    assert caught.value.message.startswith(message)
    assert caught.value.hint


def test_only_the_first_errors_are_listed_but_all_are_counted() -> None:
    items = [good(f"e{i}", hop=f"h{i}") for i in range(MAX_ERRORS + 50)]
    items.insert(3, good("e-not-a-struct", hop=1))
    batch = decode(as_array(items))

    assert len(batch.errors) == MAX_ERRORS
    assert [e.index for e in batch.errors] == list(range(MAX_ERRORS))
    assert batch.errors[3].reason == "invalid_value"
    assert batch.rejected == {"unknown_hop": MAX_ERRORS + 50, "invalid_value": 1}


BUCKET = NOW - 140  # a 60 s bucket boundary two buckets back


def count(**extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pipeline": "shop", "hop": "sink", "bucket_start": BUCKET}
    item.update({"count": 5, **extra})
    return item


def decode_count_items(items: list[Any]) -> PushBatch[CountSample]:
    return decode_counts(as_array(items), content_type="application/json", config=CONFIG, now=NOW)


def test_a_count_sample_takes_the_pipeline_bucket_by_default() -> None:
    batch = decode_count_items([count(attributes={"region": "eu", "tenant": "t1"})])

    assert batch.accepted == (
        CountSample(
            pipeline="shop",
            hop="sink",
            bucket_start=BUCKET,
            bucket_seconds=60.0,
            count=5,
            attributes=(("region", "eu"),),
        ),
    )
    assert batch.dropped_attributes == {"shop": 1}


BAD_COUNTS = [
    pytest.param(
        count(count=-1),
        "count",
        "count: -1 is negative; send the number of events in the bucket",
        id="a negative count is an invalid value",
    ),
    pytest.param(
        count(count=18446744073709551615),
        "count",
        "count: 18446744073709551615 is larger than 2**53 (9007199254740992); send the number "
        "of events in one bucket (is it a cumulative counter or an unset sentinel?)",
        id="a count above 2**53 is an invalid value rather than an overflow in the store",
    ),
    pytest.param(
        count(bucket_seconds=3600),
        "bucket_seconds",
        "bucket_seconds: 3600.0 is not the bucket size of pipeline 'shop', which counts in 1m "
        "(60.0 s) buckets; send one sample per 1m bucket, or leave bucket_seconds out",
        id="an hourly count is not squeezed into a minute bucket",
    ),
    pytest.param(
        count(bucket_start=BUCKET + 30),
        "bucket_start",
        "bucket_start 2023-11-14T22:11:30Z is not the start of a bucket of pipeline 'shop', "
        "which counts in 1m (60.0 s) buckets; send a multiple of 60.0 s since the epoch, such "
        "as 2023-11-14T22:11:00Z",
        id="a bucket_start between two bucket boundaries is an invalid value",
    ),
    pytest.param(
        raw(count(), bucket_start=b"1e400"),
        "bucket_start",
        "bucket_start: Number out of range",
        id="a bucket_start too large for a float is an invalid value",
    ),
]


@pytest.mark.parametrize(("bad", "field", "message"), BAD_COUNTS)
def test_a_bad_count_sample_is_rejected_alone(bad: Any, field: str, message: str) -> None:
    batch = decode_count_items([count(), bad, count(hop="web")])

    assert [s.hop for s in batch.accepted] == ["sink", "web"]
    assert batch.errors == (ItemError(1, field, message, "invalid_value"),)


@pytest.mark.parametrize(
    "sample",
    [
        count(count=2**53),
        count(count=0),
        count(bucket_seconds=60),
        count(bucket_start="2023-11-14T22:11:00Z"),
        count(bucket_start=BUCKET + 1e-6),
    ],
    ids=[
        "a count of exactly 2**53 is kept",
        "a count of zero is kept",
        "bucket_seconds equal to the pipeline's is kept",
        "an aligned RFC 3339 bucket_start is kept",
        "a bucket_start a microsecond off a boundary is float rounding, not misalignment",
    ],
)
def test_a_count_sample_within_bounds_is_kept(sample: dict[str, Any]) -> None:
    batch = decode_count_items([sample])
    assert (len(batch.accepted), batch.errors) == (1, ())


@pytest.mark.parametrize(
    ("attributes", "kept", "dropped"),
    [
        ({"region": "eu", "email": "a@b.c"}, (("region", "eu"),), 1),
        (
            {"tenant": 7, "trace": None, "tags": ["a"], "ctx": {"k": 1}, "ok": True},
            (),
            5,
        ),
        ({"region": "__other__"}, (("region", "__other__"),), 0),
        ({"consent": "", "region": "eu"}, (("consent", ""), ("region", "eu")), 0),
    ],
    ids=[
        "a string outside the allow-list is dropped and counted",
        "keys outside the allow-list are dropped whatever their value type",
        "the reserved value __other__ is an ordinary value",
        "allow-listed keys are kept sorted",
    ],
)
def test_attributes_are_filtered_by_the_allow_list(
    attributes: dict[str, Any], kept: tuple[tuple[str, str], ...], dropped: int
) -> None:
    for _ in range(2):  # the second time through the memo
        batch = decode(as_array([good(attributes=attributes)]))
        assert [o.attributes for o in batch.accepted] == [kept]
        assert batch.dropped_attributes == ({"shop": dropped} if dropped else {})


@pytest.mark.parametrize(
    ("value", "what"),
    [(True, "a boolean"), (None, "null"), (["eu"], "an array"), ({"eu": 1}, "an object")],
    ids=[
        "a boolean is not a string",
        "null is not a string",
        "an array is not a string",
        "an object is not a string",
    ],
)
def test_an_allow_listed_attribute_must_be_a_string(value: Any, what: str) -> None:
    batch = decode(as_array([good(attributes={"email": value, "region": value}), good("e2")]))

    assert [o.event_id for o in batch.accepted] == ["e2"]
    assert batch.errors == (
        ItemError(
            0,
            "attributes.region",
            f"attributes.region: expected a string, got {what}; allow-listed attribute values "
            "are compared as text, so send them as JSON strings",
            "invalid_value",
        ),
    )
    assert batch.dropped_attributes == {}


def test_an_ndjson_body_keeps_good_lines_around_bytes_that_are_not_utf8() -> None:
    body = as_ndjson([good("e1"), raw(good("e2"), event_id=b'"e\xff"'), good("e3")])
    batch = decode(body, "application/x-ndjson")

    assert [o.event_id for o in batch.accepted] == ["e1", "e3"]
    assert [(e.index, e.line, e.reason) for e in batch.errors] == [(1, 2, "malformed")]
