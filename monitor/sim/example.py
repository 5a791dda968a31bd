"""The example ``signup`` pipeline of hopwatch.yaml as a runtime ``Pipeline``, built without the loader.

Tests and benchmarks of the simulator use it so they do not depend on YAML files. The ``where``
texts are copied verbatim from hopwatch.yaml (a test compares them) and compiled by the real
``compile_where``, so the simulator honours exactly the filters hopwatch will check.
"""

from __future__ import annotations

from monitor.config import compile_where
from monitor.config.model import Edge, Expectation, ExpectKind, Hop, Pipeline

OK = 'status == "ok"'
CONSENTED = 'status == "ok" and attributes.consent == "granted"'
NOT_CONSENTED = 'attributes.consent != "granted"'
CONSENTED_CRM = (
    'status == "ok" and attributes.consent == "granted" '
    'and event_type in ["user_signed_up", "plan_upgraded"]'
)


def example_pipeline() -> Pipeline:
    """``signup``: sdk → ingest → broker → identity → activation, identity → crm, broker → warehouse."""
    hops = (
        Hop("sdk", "Web and mobile SDKs (the first sighting of every event)"),
        Hop("ingest", "Ingestion edge; validates schemas"),
        Hop("broker", "Kafka topic signup-events"),
        Hop("identity", "Identity resolution; applies the consent filter"),
        Hop("activation", "Activation service (welcome journeys)"),
        Hop("crm", "CRM sink"),
        Hop("warehouse", "Warehouse sink (all events)"),
    )
    edges = (
        Edge("sdk", "ingest"),
        Edge("ingest", "broker", compile_where(OK)),
        Edge("broker", "identity"),
        Edge("identity", "activation", compile_where(CONSENTED)),
        Edge(
            "identity",
            "activation",
            compile_where(NOT_CONSENTED),
            Expectation(ExpectKind.NONE, 0.0, 0.0),
        ),
        Edge("identity", "crm", compile_where(CONSENTED_CRM)),
        Edge("broker", "warehouse"),
    )
    return Pipeline(
        name="signup",
        hops=hops,
        edges=edges,
        attributes=frozenset(
            {"region", "consent", "source", "segment", "schema_version", "identity_action", "audit"}
        ),
        bucket_seconds=60.0,
        allowed_lateness=300.0,
        description="Marketing events from the web and mobile SDKs to activation, CRM and the warehouse.",
    )
