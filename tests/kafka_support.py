"""Shared by the Kafka tests: a config whose hops are kafka topics, and simulated traffic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from monitor.demo import to_wire
from monitor.ledger.ledger import Closed
from monitor.records import Observation

START = 1_700_000_040.0  # a minute boundary
HOPS = ("sdk", "ingest", "crm")
item = to_wire
"""An observation as a client produces it to the observations topic (the push API item)."""

PIPELINE = """\
pipelines:
  - name: signup
    attributes: [region]{timing}
    id_sampling: {sampling}
    hops:
{hops}
    edges:
      - {{from: sdk, to: ingest, where: 'status == "ok"'}}
      - {{from: ingest, to: crm}}
"""


def config_text(
    bootstrap: str | None,
    sampling: float = 1.0,
    extra: str = "",
    *,
    timing: str = "",
    consumer: str = "",
) -> str:
    """Hops that are kafka topics ``hop-<name>`` (or plain hops when ``bootstrap`` is None);
    ``timing`` adds pipeline keys (``bucket: 10s``), ``consumer`` the sources' librdkafka settings
    (``{session.timeout.ms: 6000}``)."""
    hops = []
    consumer_line = f"\n            consumer: {consumer}" if consumer else ""
    for hop in HOPS:
        if bootstrap is None:
            hops.append(f"      - {{name: {hop}}}")
            continue
        hops.append(
            f"""      - name: {hop}
        sources:
          - kind: kafka
            bootstrap_servers: "{bootstrap}"
            topic: hop-{hop}{consumer_line}
            fields:
              event_id: id
              event_type: type
              event_time: t
              observed_time: seen
              status: header:status
              reason: why
              attributes: {{region: attrs.region}}"""
        )
    return (
        "apiVersion: hopwatch/v1\nserver:\n  auth: {open: true}\n"
        + extra
        + PIPELINE.format(
            sampling=sampling,
            hops="\n".join(hops),
            timing="".join(f"\n    {line}" for line in timing.splitlines()),
        )
    )


def as_record(o: Observation) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """The hop's own record of an observation: key, JSON payload, headers."""
    payload: dict[str, Any] = {
        "id": o.event_id,
        "type": o.event_type,
        "t": o.event_time,
        "seen": o.observed_time,
        "attrs": dict(o.attributes),
    }
    if o.reason is not None:
        payload["why"] = o.reason
    key = None if o.event_id is None else o.event_id.encode()
    return key, msgspec.json.encode(payload), [("status", o.status.encode())]


def results(closed: Iterable[Closed]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Latest hop bucket and edge result per key, sketches compared byte for byte."""
    hops: dict[Any, Any] = {}
    edges: dict[Any, Any] = {}
    for c in closed:
        for h in (*c.hop_buckets, *c.partial_hop_buckets):
            hops[(h.hop, h.bucket_start)] = (h, h.latency.to_bytes(), h.exemplar)
        for e in c.edge_results:
            # Counts and ids, not the latency sketch: which of two duplicate sightings is seen
            # first depends on how partitions interleave, as it does between two HTTP clients.
            edges[e.key] = (e.expected, e.arrived, e.missing, e.duplicates, e.late)
    return hops, edges
