"""Which detector watches a series of each kind of check: the one place kinds meet their code."""

from __future__ import annotations

import dataclasses

from monitor.anomaly.divergence_cusum import DivergenceDetector
from monitor.anomaly.freshness import FreshnessDetector
from monitor.anomaly.latency import LatencyDetector
from monitor.anomaly.mix import MixDetector
from monitor.anomaly.model import CheckDef, CheckKind, Detector
from monitor.anomaly.proportion import ProportionDetector
from monitor.anomaly.volume import VolumeDetector
from monitor.config.model import Config, ExpectKind

_SIMPLE = {
    CheckKind.VOLUME: VolumeDetector,
    CheckKind.FRESHNESS: FreshnessDetector,
    CheckKind.LATENCY: LatencyDetector,
    CheckKind.MIX: MixDetector,
    CheckKind.REJECTIONS: ProportionDetector,
    CheckKind.IDENTITY: ProportionDetector,
}


def detector_for(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    if check.kind is CheckKind.DIVERGENCE:
        pipeline = config.pipeline(check.target.pipeline)
        edge = (
            next((e for e in pipeline.edges if e.name == check.target.edge), None)
            if pipeline
            else None
        )
        # An edge's promise is the baseline; a check on something else learns its ratio.
        ratio = None
        if edge is not None:
            ratio = 1.0 if edge.expect.kind is ExpectKind.ALL else edge.expect.ratio
            params = {"tolerance": edge.expect.tolerance, **check.params}
            check = dataclasses.replace(check, params=params)
        return DivergenceDetector(check, bucket_seconds, expected_ratio=ratio)
    return _SIMPLE[check.kind](check, bucket_seconds)
