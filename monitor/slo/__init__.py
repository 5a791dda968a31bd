"""SLOs over hops: YAML (``kind: SLOGroup`` or OpenSLO v1 ``SLO``) → ``model.SLOGroup``.

Use ``load_slos(config)`` to get every SLO group the main config includes (``ConfigError`` lists
every problem), ``load_slo_group`` for one file, and ``validate_slo_file`` for the schema and
file-level checks ``hopwatch validate`` runs without a config. The model (``monitor.slo.model``) is
what evaluation and rule export code against; the spec (``monitor.slo.spec``) stays at the edge.
"""

from monitor.slo.load import SLO_KINDS, load_slo_group, load_slos, validate_slo_file

__all__ = ["SLO_KINDS", "load_slo_group", "load_slos", "validate_slo_file"]
