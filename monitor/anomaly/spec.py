"""The ``kind: Checks`` file format (``checks/*.yaml``) as strict pydantic models.

The edge where check YAML is checked key by key, on the config package's ``Spec`` (unknown keys
are errors, no coercion across types) and reported through ``monitor.config.document``, so check
files fail the way the main config and the SLO files do. A check is one model per kind (a
``CheckSpec`` subclass in the kind's plug-in, ``kinds/<kind>.py``), chosen by its ``kind`` key
among the registered kinds (``checks_spec``), so kind-specific settings (``direction``, ``quiet``, ``attribute`` ...) are only
accepted where they mean something. Checks that need the whole file (unique names, hop or edge per
kind) or the main config (pipelines, hops, edges, allow-listed attributes) live in ``load.py``,
which also maps a valid spec into ``model.CheckDef``. See ``docs/checks.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor import time_intervals as quiet
from monitor.config.document import kind_is, type_name
from monitor.config.spec import (
    DocumentSpec,
    Duration,
    DurationOrZero,
    HttpUrl,
    Spec,
    attribute_key,
    edge_name,
    invalid,
    label_names,
    object_name,
)
from monitor.config.suggest import named_choice

if TYPE_CHECKING:
    from monitor.anomaly.kind import KindRegistry

CHECKS_KIND = "Checks"
DIRECTIONS = ("both", "drop", "spike")


# --- scalar validators -----------------------------------------------------------------------


def _from_parser(err: ValueError, hint: str | None = None) -> Exception:
    """A ``quiet.py`` parse error (``message; how to fix``) as a config error."""
    message, _, fix = str(err).partition("; ")
    return invalid(message, hint or fix or None)


def _base60_hint(value: int, clock: bool) -> str | None:
    """YAML 1.1 reads an unquoted ``1:5`` or ``22:00`` as a base-60 number (65, 1320)."""
    if value < 60:
        return None
    high, low = divmod(value, 60)
    text = f"{high:02d}:{low:02d}" if clock else f"{high}:{low}"
    return f"YAML reads an unquoted {text} as the number {value}; quote it: '{text}'"


def _clock(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        hint = _base60_hint(value, clock=True) if value <= 1440 else None
        raise invalid(f"expected a time of day HH:MM, got {type_name(value)}", hint)
    if not isinstance(value, str):
        raise invalid(f"expected a time of day HH:MM, got {type_name(value)}", "e.g. '22:00'")
    try:
        quiet.parse_clock(value)
    except ValueError as err:
        raise _from_parser(err) from None
    return value


def _span(parser: Callable[[str], quiet.Span], numbers: bool) -> Callable[[Any], str]:
    """A list item of ``weekdays``, ``days_of_month``, ``months`` or ``years``, kept as text."""

    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise invalid(f"expected a name, number or range, got {type_name(value)}")
        try:
            parser(str(value))
        except ValueError as err:
            hint = _base60_hint(value, clock=False) if numbers and isinstance(value, int) else None
            raise _from_parser(err, hint) from None
        return str(value)

    return check


def _location(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"expected a time zone name, got {type_name(value)}", "e.g. Europe/Berlin")
    try:
        return quiet.check_location(value)
    except ValueError as err:
        raise _from_parser(err) from None


def _unique_texts(value: list[str]) -> list[str]:
    for text in value:
        if not text.strip():
            raise invalid("a reason must not be empty", "write the reason as the hop reports it")
    seen = {t for t in value if value.count(t) > 1}
    if seen:
        raise invalid(f"{sorted(seen)[0]!r} is listed twice", "list each reason once")
    return value


CheckName = Annotated[str, AfterValidator(object_name)]
Labels = Annotated[dict[str, str], AfterValidator(label_names)]
EdgeName = Annotated[str, AfterValidator(edge_name)]
AttributeKey = Annotated[str, AfterValidator(attribute_key)]
Direction = Annotated[str, BeforeValidator(named_choice("direction", *DIRECTIONS))]
Clock = Annotated[str, BeforeValidator(_clock)]
Location = Annotated[str, BeforeValidator(_location)]
Weekday = Annotated[str, BeforeValidator(_span(quiet.weekday_span, numbers=False))]
DayOfMonth = Annotated[str, BeforeValidator(_span(quiet.day_of_month_span, numbers=True))]
Month = Annotated[str, BeforeValidator(_span(quiet.month_span, numbers=True))]
Year = Annotated[str, BeforeValidator(_span(quiet.year_span, numbers=True))]
Reasons = Annotated[list[str], AfterValidator(_unique_texts)]


# --- parts -----------------------------------------------------------------------------------


class SensitivitySpec(Spec):
    """How often the check may fire on a healthy series: false alarms per 30 days per series."""

    false_alarms_per_30d: float = Field(gt=0)


class TargetSpec(Spec):
    """A hop or an edge of a pipeline; which one a kind needs is checked in ``load.py``."""

    pipeline: str
    hop: str | None = None
    edge: EdgeName | None = None
    segment_by: AttributeKey | None = None

    @field_validator("edge")
    @classmethod
    def _hop_or_edge(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("hop") is not None:
            raise invalid("set hop or edge, not both", "a check watches one hop or one edge")
        return value


class TimesSpec(Spec):
    start_time: Clock
    end_time: Clock

    @field_validator("end_time")
    @classmethod
    def _after_start(cls, value: str, info: ValidationInfo) -> str:
        start = info.data.get("start_time")
        if start is not None:
            try:
                quiet.time_range(start, value)
            except ValueError as err:
                raise _from_parser(err) from None
        return value


class QuietSpec(Spec):
    """One Alertmanager ``time_intervals`` entry (see ``quiet.py``)."""

    times: list[TimesSpec] | None = None
    weekdays: list[Weekday] | None = None
    days_of_month: list[DayOfMonth] | None = None
    months: list[Month] | None = None
    years: list[Year] | None = None
    location: Location = "UTC"

    @model_validator(mode="after")
    def _not_empty(self) -> QuietSpec:
        if all(
            getattr(self, k) is None
            for k in ("times", "weekdays", "days_of_month", "months", "years")
        ):
            raise invalid(
                "a quiet interval with no times, weekdays, days_of_month, months or years is "
                "always quiet",
                "e.g. {times: [{start_time: '01:00', end_time: '03:00'}]}",
            )
        return self


# --- checks: what every kind has; each kind's own model is in ``kinds/<kind>.py`` ------------


class CheckSpec(Spec):
    """What every kind has."""

    name: CheckName
    kind: str
    description: str = ""
    owner: str | None = None
    labels: Labels = Field(default_factory=dict)
    target: TargetSpec
    sensitivity: SensitivitySpec | None = None
    min_events: int | None = Field(default=None, ge=0)
    warmup: Duration | None = None
    for_: DurationOrZero | None = Field(default=None, alias="for")
    keep_firing_for: DurationOrZero | None = None
    runbook_url: HttpUrl | None = None
    dashboard_url: HttpUrl | None = None

    def params(self) -> dict[str, Any]:
        """The kind-specific settings, as ``CheckDef.params`` holds them."""
        return {}

    def attributes(self) -> dict[str, str]:
        """Attribute keys a kind-specific setting names, by setting (``mix``'s ``attribute``):
        ``load.py`` checks them against the pipeline's allow-list, as it does ``segment_by``."""
        return {}

    def issues(self) -> list[tuple[str, str, str | None]]:
        """(setting, message, hint) of mistakes the schema cannot see one key at a time, for
        ``load.py`` to report at ``checks[i].<setting>`` with the file's other checks."""
        return []


def _unknown_kind_spec(kinds: tuple[str, ...]) -> type[BaseModel]:
    class UnknownKindSpec(BaseModel):
        """A check whose ``kind`` is missing or misspelt: only the kind is reported."""

        model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
        kind: Annotated[str, BeforeValidator(named_choice("check kind", *kinds))]

    return UnknownKindSpec


def time_interval(spec: QuietSpec) -> quiet.TimeInterval:
    """A ``QuietSpec`` as the model: quiet schedules of checks and Routing's ``time_intervals``."""

    def spans(items: list[str] | None, parser: Callable[[str], quiet.Span]) -> Any:
        return None if items is None else tuple(parser(i) for i in items)

    times = None
    if spec.times is not None:
        times = tuple(quiet.time_range(t.start_time, t.end_time) for t in spec.times)
    return quiet.TimeInterval(
        times=times,
        weekdays=spans(spec.weekdays, quiet.weekday_span),
        days_of_month=spans(spec.days_of_month, quiet.day_of_month_span),
        months=spans(spec.months, quiet.month_span),
        years=spans(spec.years, quiet.year_span),
        location=spec.location,
    )


# --- the document ----------------------------------------------------------------------------


class MetadataSpec(Spec):
    """Who owns the file's checks (a check may name another owner) and labels for all of them."""

    owner: str = Field(min_length=1)
    labels: Labels = Field(default_factory=dict)


class DefaultsSpec(Spec):
    """Values every check of the file gets unless it sets the key itself (labels merge)."""

    sensitivity: SensitivitySpec | None = None
    min_events: int | None = Field(default=None, ge=0)
    warmup: Duration | None = None
    for_: DurationOrZero | None = Field(default=None, alias="for")
    keep_firing_for: DurationOrZero | None = None
    runbook_url: HttpUrl | None = None
    dashboard_url: HttpUrl | None = None
    labels: Labels = Field(default_factory=dict)


class ChecksSpec(DocumentSpec):
    """``apiVersion: hopwatch/v1``, ``kind: Checks``: statistical checks of one team.

    ``checks`` is typed by ``checks_spec(kinds)``, which knows the registered kinds; this base
    is what code past the schema reads (every item a ``CheckSpec``)."""

    kind: Annotated[str, BeforeValidator(kind_is(CHECKS_KIND))]
    metadata: MetadataSpec
    defaults: DefaultsSpec = DefaultsSpec()
    checks: list[CheckSpec] = Field(min_length=1)


@functools.cache
def checks_spec(kinds: KindRegistry) -> type[ChecksSpec]:
    """The Checks document for ``kinds``: each check validated by its kind's model, chosen by
    its ``kind`` key; a missing or unknown kind is reported as such, with the kinds known."""
    known = kinds.names

    def tag(value: Any) -> str:
        kind = value.get("kind") if isinstance(value, dict) else None
        return kind if isinstance(kind, str) and kind in known else "unknown"

    members = tuple(Annotated[p.spec, Tag(p.name)] for p in kinds)
    unknown = Annotated[_unknown_kind_spec(known), Tag("unknown")]  # type: ignore[valid-type]
    any_check = Annotated[Union[(*members, unknown)], Discriminator(tag)]  # type: ignore[valid-type]

    class ChecksDocumentSpec(ChecksSpec):
        checks: list[any_check] = Field(min_length=1)

    return ChecksDocumentSpec


__all__ = [
    "CHECKS_KIND",
    "DIRECTIONS",
    "AttributeKey",
    "CheckSpec",
    "ChecksSpec",
    "Direction",
    "QuietSpec",
    "Reasons",
    "checks_spec",
    "time_interval",
]
