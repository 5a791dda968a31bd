"""Shared helpers of the pulled-source tests: a config with one pulled hop, a scripted source."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config import load_config
from monitor.config.model import Config, Schedule
from monitor.sources.health import FailureReason, SourceError, SourceKey
from monitor.sources.reported import BucketCount
from monitor.sources.window import Window

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 60  # a minute boundary

CONFIG = """\
apiVersion: hopwatch/v1
pipelines:
  - name: signup
    bucket: 60s
    allowed_lateness: 2m
    attributes: [region]
    hops:
      - name: ingest
      - name: warehouse
        sources: {sources}
    edges:
      - from: ingest
        to: warehouse
"""


def write_config(tmp_path: Path, sources: str, environ: Mapping[str, str] | None = None) -> Config:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(CONFIG.format(sources=sources), encoding="utf-8")
    return load_config(path, environ or {})


SCRIPTED = SourceKey("signup", "warehouse", "scripted")
SCHEDULE = Schedule(interval=30.0, timeout=5.0, grace=60.0)


@dataclass
class ScriptedSource:
    """A ``PullSource`` that answers from a dict the test edits, or fails as told."""

    key: SourceKey = SCRIPTED
    schedule: Schedule = SCHEDULE
    counts: dict[float, int] = field(default_factory=dict)
    failure: FailureReason | None = None
    windows: list[Window] = field(default_factory=list)

    async def pull(self, window: Window) -> Sequence[BucketCount]:
        self.windows.append(window)
        if self.failure is not None:
            raise SourceError(self.failure, "scripted failure")
        return [BucketCount(b, n) for b, n in sorted(self.counts.items())]

    async def aclose(self) -> None:
        return None


def promtool_errors(exposition: str) -> str | None:
    """promtool's complaints about an exposition, "" when clean, None without promtool."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    done = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    return done.stdout + done.stderr
