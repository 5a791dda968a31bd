"""The versioned SLO file formats as strict pydantic models: ``kind: SLOGroup`` and OpenSLO ``SLO``.

The edge where SLO YAML is checked key by key, built on the config package's ``Spec`` (unknown keys
are errors, no coercion across types) and reported through ``monitor.config.document``, so SLO files
fail the way the main config does. Each model checks what it can see on its own; checks that need
the whole group (unique names, defaults, tiers against the objective) or the pipelines of the main
config live in ``load.py``, which also maps a valid spec into ``model.py``. See ``docs/slo.md``.
"""

from __future__ import annotations

import difflib
import zoneinfo
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.config.document import kind_is, type_name
from monitor.config.spec import (
    CUSTOM_ERROR,
    DocumentSpec,
    Duration,
    DurationOrZero,
    Spec,
    attribute_key,
    edge_name,
    invalid,
    label_names,
    object_name,
)
from monitor.config.suggest import choice
from monitor.timeutil import format_duration

OPENSLO_API_VERSION = "openslo/v1"
PRESETS = ("28d", "30d", "none")
HOPWATCH_METRIC_SOURCE = "hopwatch"
"""``metricSource.type`` of an OpenSLO ratio metric that hopwatch counts itself."""


# --- scalar validators -----------------------------------------------------------------------


def _choice(*options: str) -> Any:
    return choice(options, f"one of {', '.join(options)}", f"use {' or '.join(options)}")


def _number(value: Any, what: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = f"write a plain number, e.g. {example}"
        raise invalid(f"expected {what}, got {type_name(value)}", hint)
    return float(value)


def _objective(value: Any) -> float:
    """A percentage strictly between 0 and 100."""
    percent = _number(value, "a percentage", "objective: 99.5")
    if percent >= 100:
        raise invalid(
            f"{percent:g} is not below 100; an SLO of 100% has no error budget", "use 99.9"
        )
    if percent <= 0:
        raise invalid(f"{percent:g} is not above 0", "objective is the percentage of good events")
    return percent


def _target(value: Any) -> float:
    """A ratio strictly between 0 and 1."""
    ratio = _number(value, "a ratio", "target: 0.995")
    if 1 < ratio < 100:
        raise invalid(
            f"{ratio:g} is not below 1; target is a ratio",
            f"use target: {ratio / 100:g}, or objective: {ratio:g} for a percentage",
        )
    if ratio >= 1:
        raise invalid(f"{ratio:g} is not below 1; an SLO of 100% has no error budget", "use 0.999")
    if ratio <= 0:
        raise invalid(f"{ratio:g} is not above 0", "target is the share of good events")
    return ratio


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"expected a time zone name, got {type_name(value)}", "e.g. Europe/Berlin")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, sorted(_zones()), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "use an IANA name such as Europe/Berlin"
        raise invalid(f"unknown time zone {value!r}", hint) from None
    return value


def _timestamp(value: Any) -> float:
    """RFC 3339 with a zone (YAML reads unquoted times as datetimes already) → epoch seconds."""
    example = "write e.g. 2024-05-01T00:00:00Z"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise invalid(f"{value.isoformat()} is a date without a time", example)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(f"{value!r} is not an RFC 3339 time", example) from None
    else:
        raise invalid(f"expected an RFC 3339 time, got {type_name(value)}", example)
    if moment.tzinfo is None:
        raise invalid(
            f"{moment.isoformat()} has no time zone", "add Z for UTC or an offset such as +02:00"
        )
    return moment.timestamp()


def format_timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _url(value: str) -> str:
    parts = urlparse(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(
            f"{value!r} is not an http(s) URL", "e.g. https://wiki.example.com/runbooks/x"
        )
    return value


SloName = Annotated[str, AfterValidator(object_name)]
Labels = Annotated[dict[str, str], AfterValidator(label_names)]
Objective = Annotated[float, BeforeValidator(_objective)]
Target = Annotated[float, BeforeValidator(_target)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]
Timestamp = Annotated[float, BeforeValidator(_timestamp)]
AttributeKey = Annotated[str, AfterValidator(attribute_key)]
Url = Annotated[str, AfterValidator(_url)]
EdgeName = Annotated[str, AfterValidator(edge_name)]
Budgeting = Annotated[str, BeforeValidator(_choice("occurrences", "timeslices"))]
Preset = Annotated[str, BeforeValidator(_choice(*PRESETS))]
SeverityName = Annotated[str, BeforeValidator(_choice("page", "ticket"))]
CalendarUnit = Annotated[str, BeforeValidator(_choice("week", "month"))]


def _not_both(info: ValidationInfo, other: str, hint: str | None = None) -> None:
    """For a field validator of the second of two exclusive keys: fail when the first is set too."""
    if info.data.get(other) is not None:
        raise invalid(f"set {other} or {info.field_name}, not both", hint)


# --- SLOGroup --------------------------------------------------------------------------------


class TimeWindowSpec(Spec):
    """``{rolling: 28d}`` or ``{calendar: week|month, timezone: Europe/Berlin}`` (zone UTC)."""

    rolling: Duration | None = None
    calendar: CalendarUnit | None = None
    timezone: TimeZone | None = None

    @field_validator("calendar")
    @classmethod
    def _one_kind(cls, value: str, info: ValidationInfo) -> str:
        _not_both(info, "rolling", "a window either rolls or follows the calendar")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_needs_calendar(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("calendar", "") is None:
            raise invalid(
                "timezone only applies to calendar windows",
                "a rolling window does not align to a clock; remove timezone",
            )
        return value

    @model_validator(mode="after")
    def _some_kind(self) -> TimeWindowSpec:
        if self.rolling is None and self.calendar is None:
            raise invalid(
                "time_window needs rolling or calendar",
                "e.g. {rolling: 28d} or {calendar: month, timezone: Europe/Berlin}",
            )
        return self


class LatencySpec(Spec):
    pipeline: str
    from_: str = Field(alias="from")
    to: str
    threshold: Duration
    where: str | None = None

    @field_validator("to")
    @classmethod
    def _two_hops(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("from_") == value:
            raise invalid(f"from and to are both {value!r}", "latency is measured between two hops")
        return value


class RatioSpec(Spec):
    pipeline: str
    hop: str
    total: str | None = None
    good: str | None = None
    bad: str | None = None

    @field_validator("bad")
    @classmethod
    def _good_or_bad(cls, value: str, info: ValidationInfo) -> str:
        _not_both(info, "good", "bad is everything in total that is not good; keep one")
        return value

    @model_validator(mode="after")
    def _needs_one(self) -> RatioSpec:
        if self.good is None and self.bad is None:
            raise invalid("ratio needs good or bad", 'e.g. good: status == "ok"')
        return self


class CompletenessSpec(Spec):
    pipeline: str
    edge: EdgeName


class SampledSpec(Spec):
    pipeline: str
    hop: str
    where: str | None = None
    bad: str
    maturity: DurationOrZero = 0.0
    confidence: float = Field(default=0.95, gt=0, lt=1)


class BlockedSpec(Spec):
    """``blocked``: the share of a forbidden edge's restricted events that did not arrive."""

    pipeline: str
    edge: EdgeName


INDICATOR_KINDS = ("latency", "ratio", "completeness", "sampled", "blocked")


class IndicatorSpec(Spec):
    """Exactly one of the kinds, as a one-key mapping: ``indicator: {latency: {...}}``."""

    latency: LatencySpec | None = None
    ratio: RatioSpec | None = None
    completeness: CompletenessSpec | None = None
    sampled: SampledSpec | None = None
    blocked: BlockedSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> IndicatorSpec:
        found = [k for k in INDICATOR_KINDS if getattr(self, k) is not None]
        if not found:
            raise invalid(
                "indicator needs one of latency, ratio, completeness, sampled, blocked",
                "e.g. indicator: {ratio: {pipeline: signup, hop: warehouse, good: status == 'ok'}}",
            )
        if len(found) > 1:
            raise invalid(
                f"indicator has {' and '.join(found)}; an SLO measures one indicator",
                "split it into one SLO per indicator",
            )
        return self

    @property
    def chosen(self) -> LatencySpec | RatioSpec | CompletenessSpec | SampledSpec | BlockedSpec:
        chosen: LatencySpec | RatioSpec | CompletenessSpec | SampledSpec | BlockedSpec = next(
            getattr(self, k) for k in INDICATOR_KINDS if getattr(self, k) is not None
        )
        return chosen


class TierOverrideSpec(Spec):
    """A preset tier switched or delayed: ``page-1h: {enabled: false}``. A key left out keeps
    the preset's value."""

    enabled: bool = True
    for_: DurationOrZero | None = Field(default=None, alias="for")
    keep_firing_for: DurationOrZero | None = None


class TierSpec(Spec):
    """A custom tier; a list of these replaces the preset."""

    name: SloName
    severity: SeverityName
    burn_rate: float = Field(gt=0)
    long: Duration
    short: Duration
    enabled: bool = True
    for_: DurationOrZero = Field(default=0.0, alias="for")
    keep_firing_for: DurationOrZero | None = None  # None: the short window

    @field_validator("short")
    @classmethod
    def _shorter(cls, value: float, info: ValidationInfo) -> float:
        long = info.data.get("long")
        if long is not None and value >= long:
            raise invalid(
                f"short window {format_duration(value)} is not shorter than long window "
                f"{format_duration(long)}",
                "the short window confirms the burn is still going on; "
                "the workbook uses a twelfth of the long window, e.g. long: 1h, short: 5m",
            )
        return value


def _tiers_shape(value: Any) -> str | None:
    if value is None:
        return "unset"
    if isinstance(value, dict):
        return "overrides"
    if isinstance(value, list):
        return "custom"
    return None


TierOverrides = Annotated[dict[str, TierOverrideSpec], Tag("overrides")]
CustomTiers = Annotated[list[TierSpec], Tag("custom")]
Tiers = Annotated[
    TierOverrides | CustomTiers | Annotated[None, Tag("unset")],
    Discriminator(
        _tiers_shape,
        custom_error_type=CUSTOM_ERROR,
        custom_error_message="{message}",
        custom_error_context={
            "message": "expected a mapping of preset tiers or a list of tiers",
            "hint": "e.g. {page-1h: {enabled: false}}, or [{name, severity, burn_rate, long, short}]",
        },
    ),
]


class AlertingSpec(Spec):
    """``preset`` (28d, 30d: the workbook tiers; none: no alerts) with per-tier ``tiers`` overrides,
    or a list of custom ``tiers`` instead of the preset."""

    preset: Preset | None = None
    tiers: Tiers = None

    @field_validator("tiers")
    @classmethod
    def _fits_preset(cls, value: Any, info: ValidationInfo) -> Any:
        preset = info.data.get("preset")
        if isinstance(value, list) and preset is not None:
            raise invalid(
                f"a list of tiers replaces preset {preset}", "remove preset, or list overrides"
            )
        if isinstance(value, dict) and value and preset == "none":
            raise invalid("preset none has no tiers to override", "remove preset or tiers")
        return value


class LowTrafficSpec(Spec):
    min_events: int = Field(default=0, ge=0)
    binomial_alpha: float | None = Field(default=None, gt=0, lt=1)


class ExclusionSpec(Spec):
    start: Timestamp
    end: Timestamp
    reason: str = Field(min_length=1)

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: float, info: ValidationInfo) -> float:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise invalid(
                f"end {format_timestamp(value)} is not after start {format_timestamp(start)}",
                "an exclusion covers start <= t < end",
            )
        return value


class SLOSpec(Spec):
    name: SloName
    description: str = ""
    objective: Objective | None = None
    target: Target | None = None
    time_window: TimeWindowSpec | None = None
    budgeting_method: Budgeting | None = None
    timeslice: Duration | None = None
    indicator: IndicatorSpec
    alerting: AlertingSpec | None = None
    low_traffic: LowTrafficSpec | None = None
    exclusions: list[ExclusionSpec] = Field(default_factory=list)
    segment_by: AttributeKey | None = None
    runbook: Url = ""
    labels: Labels = Field(default_factory=dict)

    @field_validator("target")
    @classmethod
    def _objective_or_target(cls, value: float, info: ValidationInfo) -> float:
        _not_both(info, "objective", "objective is a percentage, target the same as a ratio")
        return value

    @model_validator(mode="after")
    def _has_objective(self) -> SLOSpec:
        if self.objective is None and self.target is None:
            raise invalid(
                "missing objective or target", "e.g. objective: 99.5 (percent) or target: 0.995"
            )
        return self

    @property
    def target_ratio(self) -> float:
        """The target as a ratio; from a percentage rounded to 12 places so that ``objective: 99.9``
        and ``target: 0.999`` give the same float."""
        if self.target is not None:
            return self.target
        return round((self.objective or 0.0) / 100.0, 12)


class DefaultsSpec(Spec):
    """Values every SLO of the group gets unless it sets the key itself (labels merge)."""

    time_window: TimeWindowSpec | None = None
    budgeting_method: Budgeting | None = None
    timeslice: Duration | None = None
    alerting: AlertingSpec | None = None
    low_traffic: LowTrafficSpec | None = None
    labels: Labels = Field(default_factory=dict)


class MetadataSpec(Spec):
    service: SloName
    owner: str = ""
    labels: Labels = Field(default_factory=dict)


class SLOGroupSpec(DocumentSpec):
    """``apiVersion: hopwatch/v1``, ``kind: SLOGroup``: the SLOs of one service."""

    kind: Annotated[str, BeforeValidator(kind_is("SLOGroup"))]
    metadata: MetadataSpec
    defaults: DefaultsSpec = DefaultsSpec()
    slos: list[SLOSpec] = Field(min_length=1)


# --- OpenSLO v1 SLO --------------------------------------------------------------------------


def _openslo_api_version(value: Any) -> str:
    if value != OPENSLO_API_VERSION:
        raise invalid(
            f"unsupported apiVersion {value!r}",
            f"an OpenSLO document says {OPENSLO_API_VERSION!r}",
        )
    return str(value)


def _metric_source_type(value: Any) -> str:
    if value != HOPWATCH_METRIC_SOURCE:
        raise invalid(
            f"metric source type {value!r} is not one hopwatch can count",
            f"use type: {HOPWATCH_METRIC_SOURCE} with spec {{pipeline, hop, query}}",
        )
    return str(value)


def _one_item(what: str) -> Any:
    def check(value: list[Any]) -> list[Any]:
        if len(value) != 1:
            raise invalid(
                f"expected exactly one {what}, got {len(value)}", f"write one SLO per {what}"
            )
        return value

    return check


class HopwatchQuerySpec(Spec):
    """The ``metricSource.spec`` convention: count observations at ``hop`` passing ``query``."""

    pipeline: str
    hop: str
    query: str = ""


class MetricSourceSpec(Spec):
    type: Annotated[str, BeforeValidator(_metric_source_type)]
    spec: HopwatchQuerySpec


class MetricSpec(Spec):
    metric_source: MetricSourceSpec = Field(alias="metricSource")


class RatioMetricSpec(Spec):
    counter: bool = True
    good: MetricSpec | None = None
    bad: MetricSpec | None = None
    total: MetricSpec

    @field_validator("bad")
    @classmethod
    def _good_or_bad(cls, value: MetricSpec, info: ValidationInfo) -> MetricSpec:
        _not_both(info, "good")
        return value

    @model_validator(mode="after")
    def _needs_one(self) -> RatioMetricSpec:
        if self.good is None and self.bad is None:
            raise invalid(
                "ratioMetric needs good or bad", "OpenSLO ratios are good/total or bad/total"
            )
        return self


class SLIBodySpec(Spec):
    ratio_metric: RatioMetricSpec = Field(alias="ratioMetric")


class SLIMetadataSpec(Spec):
    name: SloName
    display_name: str = Field(default="", alias="displayName")


class InlineSLISpec(Spec):
    metadata: SLIMetadataSpec | None = None
    spec: SLIBodySpec


class CalendarSpec(Spec):
    # Accepted for compatibility; hopwatch starts windows at the week or month in time_zone.
    start_time: str = Field(default="", alias="startTime")
    time_zone: TimeZone = Field(default="UTC", alias="timeZone")


class OpenSLOTimeWindowSpec(Spec):
    duration: str
    is_rolling: bool = Field(default=True, alias="isRolling")
    calendar: CalendarSpec | None = None

    @field_validator("calendar")
    @classmethod
    def _calendar_not_rolling(cls, value: CalendarSpec, info: ValidationInfo) -> CalendarSpec:
        if info.data.get("is_rolling"):
            raise invalid("a calendar window is not rolling", "set isRolling: false")
        return value

    @model_validator(mode="after")
    def _shape(self) -> OpenSLOTimeWindowSpec:
        if not self.is_rolling and self.calendar is None:
            raise invalid("isRolling: false needs calendar", "e.g. calendar: {timeZone: UTC}")
        if self.calendar is not None and self.duration not in ("1w", "1M"):
            raise invalid(
                f"calendar duration {self.duration!r} is not 1w or 1M",
                "hopwatch follows calendar weeks and months",
            )
        return self


class OpenSLOObjectiveSpec(Spec):
    display_name: str = Field(default="", alias="displayName")
    target: Target
    time_slice_window: Duration | None = Field(default=None, alias="timeSliceWindow")


class OpenSLOBodySpec(Spec):
    description: str = ""
    service: SloName
    indicator: InlineSLISpec
    time_window: Annotated[
        list[OpenSLOTimeWindowSpec], AfterValidator(_one_item("time window"))
    ] = Field(alias="timeWindow")
    budgeting_method: Annotated[str, BeforeValidator(_choice("Occurrences", "Timeslices"))] = Field(
        alias="budgetingMethod"
    )
    objectives: Annotated[list[OpenSLOObjectiveSpec], AfterValidator(_one_item("objective"))]

    @model_validator(mode="after")
    def _timeslice(self) -> OpenSLOBodySpec:
        if self.budgeting_method == "Timeslices" and self.objectives[0].time_slice_window is None:
            raise invalid("Timeslices needs objectives[0].timeSliceWindow", "e.g. 1m")
        return self


class OpenSLOMetadataSpec(Spec):
    name: SloName
    display_name: str = Field(default="", alias="displayName")
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class OpenSLOSpec(Spec):
    """A plain OpenSLO v1 ``SLO`` whose inline indicator is a hopwatch ratio metric."""

    api_version: Annotated[str, BeforeValidator(_openslo_api_version)] = Field(alias="apiVersion")
    kind: Annotated[str, BeforeValidator(kind_is("SLO"))]
    metadata: OpenSLOMetadataSpec
    spec: OpenSLOBodySpec
