"""The shape of a pipeline as the simulator walks it: one first hop, and a tree of edges below it.

The simulator sends each event down a tree, so a hop with two incoming edges (where an event could
arrive twice by different routes) is refused here with a message, rather than simulated wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config.model import Edge, Pipeline


@dataclass(frozen=True)
class Topology:
    """Hops in the order events reach them, each hop's incoming edge and its outgoing edges."""

    root: str
    order: tuple[str, ...]
    parent: dict[str, Edge]
    children: dict[str, tuple[Edge, ...]]

    @classmethod
    def of(cls, pipeline: Pipeline) -> Topology:
        names = pipeline.hop_names
        known = set(names)
        for e in pipeline.edges:
            for hop in (e.from_hop, e.to_hop):
                if hop not in known:
                    raise ValueError(
                        f"pipeline {pipeline.name}: edge {e.name} names unknown hop {hop!r}"
                    )
        parent: dict[str, Edge] = {}
        # Forbidden edges (expect: none) carry no traffic; a ``Bypass`` fault sends events over them.
        for e in (e for e in pipeline.edges if not e.forbidden):
            if e.to_hop in parent:
                raise ValueError(
                    f"pipeline {pipeline.name}: hop {e.to_hop!r} has two incoming edges "
                    f"({parent[e.to_hop].name}, {e.name}); the simulator needs a tree of edges"
                )
            parent[e.to_hop] = e
        roots = [h for h in names if h not in parent]
        if len(roots) != 1:
            raise ValueError(
                f"pipeline {pipeline.name}: the simulator needs exactly one first hop (no incoming "
                f"edge), found {roots or 'none'}"
            )
        children = {h: tuple(e for e in pipeline.edges_from(h) if not e.forbidden) for h in names}
        order: list[str] = []
        queue = [roots[0]]
        while queue:
            hop = queue.pop(0)
            order.append(hop)
            queue.extend(e.to_hop for e in children[hop])
        if len(order) != len(names):
            unreached = sorted(known - set(order))
            raise ValueError(f"pipeline {pipeline.name}: hops {unreached} are not reachable")
        return cls(roots[0], tuple(order), parent, children)
