"""The compiled push path (lean decode + ``monitor.sources._mapper``) against the reference one.

Every body, good or bad, must come out of ``PushDecoder.observations`` exactly as it comes out of
``observations_reference`` (the typed decode and ``WireMapper``): the same records, the same
errors with the same messages, lines and reasons, the same counters, the same ``BodyError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config.model import Config, Hop, Pipeline
from monitor.sources import limits, push
from monitor.sources.push import BodyError, PushDecoder
from tests.test_push import CONFIG as SHOP_ONLY
from tests.test_push import NOW

pytestmark = pytest.mark.skipif(push._compiled is None, reason="the compiled mapper is not built")

OTHER = Pipeline(name="other", hops=(Hop("web"),), attributes=frozenset({"region"}))
CONFIG: Config = dataclasses.replace(SHOP_ONLY, pipelines=(*SHOP_ONLY.pipelines, OTHER))

# (value, whether the typed decode accepts it); a missing field is left out by ``items``.
ATTRIBUTES: list[tuple[Any, bool]] = [
    ({}, True),
    ({"region": "eu"}, True),
    ({"consent": "granted", "region": "eu"}, True),
    ({"region": "eu", "consent": "granted"}, True),
    ({"region": "us", "segment": "vip"}, True),  # a key off the allow-list: dropped, counted
    ({"region": 5}, True),  # allow-listed, not text: the mapper rejects it
    ({"region": None}, True),
    ({"segment": [1, 2]}, True),  # off the list: dropped whatever it holds
    ({"region": "x" * (limits.MAX_ATTRIBUTE_VALUE + 1)}, True),
    ({"k" * (limits.MAX_ATTRIBUTE_KEY + 1): "x"}, False),  # the typed decode refuses the key
    ({f"a{i}": "x" for i in range(limits.MAX_ATTRIBUTES + 1)}, False),
    (5, False),
    (None, False),
    (["region", "eu"], False),
]
TIMES: list[Any] = [
    NOW - 10.0,
    NOW - 0.5,
    NOW + 100.0,
    NOW + 1000.0,  # ahead of the clock beyond the skew
    NOW - 10 * 86400 * 365,  # older than retention
    1.0e300,
    "2023-11-14T22:13:00Z",
    "2023-11-14T22:13:00",  # naive: UTC
    "2023-11-14T22:13:00+02:00",
]


@st.composite
def items(draw: st.DrawFn) -> tuple[Any, bool]:
    """One item as JSON-able value (or raw bytes) and whether the typed decode accepts it."""
    kind = draw(st.integers(0, 30))
    if kind == 0:
        return draw(
            st.sampled_from([b"not json", b"{", b'{"pipeline": "shop"', b"\xff\xfe"])
        ), False
    typed_ok = True
    item: dict[str, Any] = {
        "pipeline": draw(st.sampled_from(["shop", "shop", "shop", "other", "billing"])),
        "hop": draw(st.sampled_from(["web", "web", "sink", "cart"])),
        "event_type": draw(st.sampled_from(["order", "refund", "x" * 300])),
        "event_time": draw(st.sampled_from(TIMES)),
    }
    typed_ok &= len(item["event_type"]) <= limits.MAX_EVENT_TYPE
    if draw(st.booleans()):
        item["event_id"] = draw(st.sampled_from(["e1", "e2", "e3"]))
    observed = draw(st.integers(0, 4))
    if observed == 1 and isinstance(item["event_time"], float):
        item["observed_time"] = item["event_time"] + draw(st.sampled_from([0.0, 2.5, -1000.0]))
    elif observed == 2:
        item["observed_time"] = draw(st.sampled_from(TIMES))
    elif observed == 3:
        item["observed_time"] = "soon"
        typed_ok = False
    if draw(st.booleans()):
        item["status"] = draw(st.sampled_from(["ok", "rejected", "dropped", "lost"]))
        typed_ok &= item["status"] != "lost"
    if draw(st.booleans()):
        item["reason"] = draw(st.sampled_from(["schema_invalid", None]))
    attributes = draw(st.integers(-1, len(ATTRIBUTES) - 1))
    if attributes >= 0:
        item["attributes"], ok = ATTRIBUTES[attributes]
        typed_ok &= ok
    if draw(st.integers(0, 20)) == 0:
        del item["event_type"]
        typed_ok = False
    nested = draw(st.integers(0, 30))
    if nested < 2:  # an unknown field, or a dropped attribute, nesting past the limit (or not)
        deep: Any = "x"
        for _ in range(draw(st.sampled_from([3, limits.MAX_DEPTH]))):
            deep = [deep]
        if nested == 0:
            item["extra"] = deep
        else:
            item["attributes"] = {"region": "eu", "segment": deep}
    elif nested == 2:
        item["note"] = "brackets [in] a {string}"
    return item, typed_ok


def encoded(item: Any, spaced: bool) -> bytes:
    if isinstance(item, bytes):
        return item
    text = msgspec.json.encode(item)
    return text.replace(b'":', b'": ').replace(b",", b", ") if spaced else text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(items(), max_size=12),
    ndjson=st.booleans(),
    spaced=st.booleans(),
    lead=st.sampled_from([b"", b"\n \n", b" "]),
    separator=st.sampled_from([b"\n", b"\n", b"\r\n", b"\n\n", b" , "]),
)
def test_the_compiled_push_path_decodes_every_body_as_the_reference_does(
    batch: list[tuple[Any, bool]], ndjson: bool, spaced: bool, lead: bytes, separator: bytes
) -> None:
    values = [encoded(item, spaced) for item, _ in batch]
    if ndjson:
        body = lead + b"".join(v + separator for v in values)
        content_type = "application/x-ndjson"
    else:
        body, content_type = b"[" + b",".join(values) + b"]", "application/json"
    decoder = PushDecoder(CONFIG)
    for _ in range(2):  # the second time from the mapper's memo
        try:
            expected = decoder.observations_reference(body, content_type=content_type, now=NOW)
        except BodyError as error:
            with pytest.raises(BodyError) as raised:
                decoder.observations(body, content_type=content_type, now=NOW)
            assert (raised.value.message, raised.value.hint) == (error.message, error.hint)
            continue
        fast = decoder._observations_fast(body, content_type, NOW)
        assert decoder.observations(body, content_type=content_type, now=NOW) == expected
        if all(ok for _, ok in batch) and (not ndjson or separator in (b"\n", b"\r\n")):
            assert fast == expected  # taken, not handed back
        else:
            assert fast is None or fast == expected


def test_the_compiled_push_path_shares_texts_and_attribute_sets() -> None:
    """Equal hops and attribute sets come out as one object each: the ledger and the SLO
    indicators then compare them by identity."""
    item = {"pipeline": "shop", "hop": "web", "event_type": "order", "event_time": NOW - 1,
            "attributes": {"region": "eu"}}  # fmt: skip
    body = b"\n".join([msgspec.json.encode(item)] * 3 + [msgspec.json.encode({**item, "attributes":
        {"region": "eu", "segment": "x"}})])  # fmt: skip
    batch = PushDecoder(CONFIG).observations(body, content_type="application/x-ndjson", now=NOW)
    assert len(batch.accepted) == 4
    assert batch.dropped_attributes == {"shop": 1}
    first = batch.accepted[0]
    for obs in batch.accepted[1:]:
        assert obs.hop is first.hop and obs.event_type is first.event_type
        assert obs.attributes is first.attributes == (("region", "eu"),)


def test_without_the_compiled_mapper_every_body_takes_the_reference_path(monkeypatch) -> None:
    monkeypatch.setattr(push, "_compiled", None)
    decoder = PushDecoder(CONFIG)
    assert decoder._fast is None
    body = msgspec.json.encode([{"pipeline": "shop", "hop": "web", "event_type": "order",
                                 "event_time": NOW - 1}])  # fmt: skip
    batch = decoder.observations(body, content_type="application/json", now=NOW)
    assert len(batch.accepted) == 1 and batch.accepted[0].event_time == NOW - 1
