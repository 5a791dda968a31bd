"""The ``kind: Routing`` file format (``alert_rules/*.yaml``) as strict pydantic models.

Two sections side by side: ``alertmanager:`` is a subset of Alertmanager's own configuration, key
for key, so it can be handed to ``amtool check-config`` or copied into an Alertmanager; and
``extensions:`` holds what Alertmanager does not have (delivery mode, Slack threading and
updates, topology-aware inhibition, secrets from environment variables). Keys Alertmanager knows
but hopwatch does not implement are listed in each model's ``UNSUPPORTED`` so the loader can say
so instead of calling them unknown. Checks that need the whole file (receivers that exist, time
intervals that are defined, the root route's rules) live in ``load.py``, which also maps a valid
spec into ``model.RoutingConfig``. See ``docs/routing.md``.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, create_model, model_validator

from monitor.anomaly.spec import QuietSpec
from monitor.config.document import kind_is, type_name
from monitor.config.spec import DocumentSpec, Spec, invalid
from monitor.config.suggest import named_choice
from monitor.routing.integrations import IntegrationSpec
from monitor.routing.matchers import LABEL_NAME, MatcherError, check_regex, parse_matchers

ROUTING_KIND = "Routing"
DEFAULT_PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SLACK_API_SUFFIX = "/chat.postMessage"
"""An ``api_url`` ending here is Slack's Web API (bot token, can update); any other a webhook."""

_PROM_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_PROM_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- scalar validators -----------------------------------------------------------------------


def prom_duration(value: Any) -> float:
    """Seconds in a Prometheus duration as Alertmanager reads it (``model.ParseDuration``):
    whole numbers, units in the order y w d h m s ms, ``0`` allowed. hopwatch's own duration
    syntax is looser (``30m1h``), which Alertmanager would refuse, so this section has its own."""
    if not isinstance(value, str):
        fix = f"write a number and a unit, e.g. {value}s" if isinstance(value, int) else None
        raise invalid(f"expected a duration, got {type_name(value)}", fix)
    found = _PROM_DURATION.match(value)
    if value == "0":
        return 0.0
    if not value or found is None:
        raise invalid(
            f"{value!r} is not a duration",
            "Alertmanager durations are whole numbers with units in the order y, w, d, h, m, s, "
            "ms, e.g. 30s, 5m or 1h30m",
        )
    return sum(int(n) * unit for n, unit in zip(found.groups(), _PROM_UNITS, strict=True) if n)


def _positive_duration(value: Any) -> float:
    seconds = prom_duration(value)
    if seconds <= 0:
        raise invalid(f"{value!r} cannot be zero", "Alertmanager refuses a zero interval")
    return seconds


def _matcher_text(value: str) -> str:
    try:
        parse_matchers(value)
    except MatcherError as err:
        message, _, fix = str(err).partition("; ")
        raise invalid(message, fix or None) from None
    return value


def _label_name(value: str) -> str:
    if not LABEL_NAME.match(value):
        raise invalid(
            f"{value!r} is not a valid label name",
            "label names are letters, digits and _, not starting with a digit",
        )
    return value


def _label_map(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        _label_name(name)
    return value


def _regex_map(value: dict[str, str]) -> dict[str, str]:
    _label_map(value)
    for regex in value.values():
        try:
            check_regex(regex)
        except MatcherError as err:
            message, _, fix = str(err).partition("; ")
            raise invalid(message, fix or None) from None
    return value


def _group_by(value: list[str]) -> list[str]:
    """Alertmanager's rules: ``...`` alone or not at all, valid and unique label names."""
    if "..." in value and len(value) > 1:
        raise invalid(
            "cannot have wildcard group_by ('...') and other labels at the same time",
            "'...' already groups by every label; write group_by: ['...'] alone",
        )
    seen: set[str] = set()
    for name in value:
        if name != "...":
            _label_name(name)
        if name in seen:
            raise invalid(f"duplicated label {name!r} in group_by", "list each label once")
        seen.add(name)
    return value


def _unique(value: list[str]) -> list[str]:
    twice = sorted({v for v in value if value.count(v) > 1})
    if twice:
        raise invalid(f"{twice[0]!r} is listed twice", "list each name once")
    return value


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise invalid(f"{value!r} is not an http(s) URL", "e.g. https://example.com/path")
    return value


def _secret_url(value: str) -> str:
    """A URL that is itself a secret (a Slack webhook, a webhook with a token): never echoed."""
    if not re.match(r"^https?://[^\s/]+", value):
        raise invalid("the value is not an http(s) URL", "it is a secret, so it is not shown")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise invalid(
            f"{value!r} is not an environment variable name",
            "letters, digits and _, e.g. SLACK_TOKEN",
        )
    return value


def _not_empty(value: str) -> str:
    if not value.strip():
        raise invalid("must not be empty")
    return value


PromDuration = Annotated[float, BeforeValidator(prom_duration)]
PositiveDuration = Annotated[float, BeforeValidator(_positive_duration)]
MatcherText = Annotated[str, AfterValidator(_matcher_text)]
LabelName = Annotated[str, AfterValidator(_label_name)]
LabelMap = Annotated[dict[str, str], AfterValidator(_label_map)]
RegexMap = Annotated[dict[str, str], AfterValidator(_regex_map)]
GroupBy = Annotated[list[str], AfterValidator(_group_by)]
Names = Annotated[list[str], AfterValidator(_unique)]
Url = Annotated[str, AfterValidator(_url)]
SecretUrl = Annotated[str, AfterValidator(_secret_url)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Text = Annotated[str, AfterValidator(_not_empty)]


def _one_of(spec: Spec, *keys: str) -> None:
    """Alertmanager's ``at most one of a & b must be configured``."""
    given = [k for k in keys if getattr(spec, k) is not None]
    if len(given) > 1:
        raise invalid(
            f"set {' or '.join(given)}, not both", "keep the one your deployment provides"
        )


# --- the alertmanager section ----------------------------------------------------------------

_NOT_RENDERED = "hopwatch renders its own messages and sets only channel, title and text"
_HTTP = "hopwatch supports http_config.authorization only"


class AuthorizationSpec(Spec):
    """``http_config.authorization``: Slack's bot token in API mode."""

    type: Annotated[str, BeforeValidator(named_choice("authorization type", "Bearer"))] = "Bearer"
    credentials: Text | None = None
    credentials_file: Text | None = None

    @model_validator(mode="after")
    def _one(self) -> AuthorizationSpec:
        _one_of(self, "credentials", "credentials_file")
        return self


class HttpConfigSpec(Spec):
    UNSUPPORTED: ClassVar[dict[str, str]] = dict.fromkeys(
        (
            "basic_auth",
            "oauth2",
            "bearer_token",
            "bearer_token_file",
            "proxy_url",
            "tls_config",
            "follow_redirects",
            "enable_http2",
        ),
        _HTTP,
    )
    authorization: AuthorizationSpec | None = None


class GlobalSpec(Spec):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        **dict.fromkeys(
            (
                "smtp_from",
                "smtp_hello",
                "smtp_smarthost",
                "smtp_auth_username",
                "smtp_auth_password",
                "smtp_auth_password_file",
                "smtp_auth_secret",
                "smtp_auth_identity",
                "smtp_require_tls",
            ),
            "hopwatch does not send e-mail",
        ),
        **dict.fromkeys(
            (
                "opsgenie_api_url",
                "opsgenie_api_key",
                "opsgenie_api_key_file",
                "wechat_api_url",
                "wechat_api_secret",
                "wechat_api_corp_id",
                "victorops_api_url",
                "victorops_api_key",
                "victorops_api_key_file",
                "telegram_api_url",
                "webex_api_url",
            ),
            "hopwatch delivers to Slack, PagerDuty and webhooks only",
        ),
        "http_config": "set http_config on the receiver's config instead",
    }
    resolve_timeout: PositiveDuration = 300.0
    slack_api_url: SecretUrl | None = None
    slack_api_url_file: Text | None = None
    pagerduty_url: Url = DEFAULT_PAGERDUTY_URL

    @model_validator(mode="after")
    def _one(self) -> GlobalSpec:
        _one_of(self, "slack_api_url", "slack_api_url_file")
        return self


class RouteSpec(Spec):
    """One node of the tree; ``None`` means inherited from the parent (or Alertmanager's default)."""

    receiver: Text | None = None
    group_by: GroupBy | None = None
    continue_: bool = Field(default=False, alias="continue")
    matchers: list[MatcherText] = Field(default_factory=list)
    match: LabelMap | None = None
    match_re: RegexMap | None = None
    group_wait: PromDuration | None = None
    group_interval: PositiveDuration | None = None
    repeat_interval: PositiveDuration | None = None
    mute_time_intervals: Names = Field(default_factory=list)
    active_time_intervals: Names = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)

    @property
    def has_matchers(self) -> bool:
        return bool(self.matchers or self.match or self.match_re)


class InhibitRuleSpec(Spec):
    source_matchers: list[MatcherText] = Field(default_factory=list)
    target_matchers: list[MatcherText] = Field(default_factory=list)
    source_match: LabelMap | None = None
    source_match_re: RegexMap | None = None
    target_match: LabelMap | None = None
    target_match_re: RegexMap | None = None
    equal: list[LabelName] = Field(default_factory=list)


class IntervalSpec(QuietSpec):
    """One entry of a named time interval: the checks' ``quiet`` schedule, same syntax."""

    @model_validator(mode="after")
    def _not_empty(self) -> IntervalSpec:
        if all(
            getattr(self, k) is None
            for k in ("times", "weekdays", "days_of_month", "months", "years")
        ):
            raise invalid(
                "an interval with no times, weekdays, days_of_month, months or years always holds",
                "e.g. {times: [{start_time: '01:00', end_time: '03:00'}]}",
            )
        return self


class TimeIntervalSpec(Spec):
    name: Text
    time_intervals: list[IntervalSpec] = Field(min_length=1)


class SlackSpec(Spec):
    UNSUPPORTED: ClassVar[dict[str, str]] = dict.fromkeys(
        (
            "username",
            "color",
            "title_link",
            "pretext",
            "fields",
            "short_fields",
            "footer",
            "fallback",
            "callback_id",
            "icon_emoji",
            "icon_url",
            "image_url",
            "thumb_url",
            "link_names",
            "mrkdwn_in",
            "actions",
        ),
        _NOT_RENDERED,
    )
    send_resolved: bool = True
    http_config: HttpConfigSpec | None = None
    api_url: SecretUrl | None = None
    api_url_file: Text | None = None
    channel: Text | None = None
    title: str = ""
    text: str = ""

    @model_validator(mode="after")
    def _one(self) -> SlackSpec:
        _one_of(self, "api_url", "api_url_file")
        return self

    @property
    def token_given(self) -> bool:
        auth = self.http_config.authorization if self.http_config else None
        return auth is not None and (auth.credentials or auth.credentials_file) is not None


class PagerDutySpec(Spec):
    UNSUPPORTED: ClassVar[dict[str, str]] = {
        **dict.fromkeys(
            ("service_key", "service_key_file"),
            "service keys are PagerDuty's Events API v1; hopwatch speaks v2: use routing_key",
        ),
        **dict.fromkeys(
            ("description", "details", "images", "links", "class", "component", "group"),
            "hopwatch builds the event payload itself",
        ),
        "http_config": _HTTP + " on Slack configs",
    }
    send_resolved: bool = True
    routing_key: Text | None = None
    routing_key_file: Text | None = None
    url: Url | None = None
    severity: Annotated[
        str, BeforeValidator(named_choice("severity", "critical", "error", "warning", "info"))
    ] = "error"
    client: Text | None = None
    client_url: Url | None = None
    source: Text | None = None

    @model_validator(mode="after")
    def _one(self) -> PagerDutySpec:
        _one_of(self, "routing_key", "routing_key_file")
        return self


class WebhookSpec(Spec):
    UNSUPPORTED: ClassVar[dict[str, str]] = {"http_config": _HTTP + " on Slack configs"}
    send_resolved: bool = True
    url: SecretUrl | None = None
    url_file: Text | None = None
    max_alerts: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one(self) -> WebhookSpec:
        _one_of(self, "url", "url_file")
        return self


BUILTIN_KEYS = ("slack_configs", "pagerduty_configs", "webhook_configs")


def _integrations(keys: tuple[str, ...]) -> str:
    listed = ", ".join(keys[:-1]) + " and " + keys[-1]
    return (
        f"hopwatch delivers {listed}, or forwards every alert to an Alertmanager with "
        "extensions.delivery: forward"
    )


_INTEGRATIONS = _integrations(BUILTIN_KEYS)


class ReceiverSpec(Spec):
    UNSUPPORTED: ClassVar[dict[str, str]] = dict.fromkeys(
        (
            "email_configs",
            "opsgenie_configs",
            "wechat_configs",
            "pushover_configs",
            "victorops_configs",
            "sns_configs",
            "telegram_configs",
            "discord_configs",
            "webex_configs",
            "msteams_configs",
        ),
        _INTEGRATIONS,
    )
    name: Text
    slack_configs: list[SlackSpec] = Field(default_factory=list)
    pagerduty_configs: list[PagerDutySpec] = Field(default_factory=list)
    webhook_configs: list[WebhookSpec] = Field(default_factory=list)


class AlertmanagerSpec(Spec):
    """The Alertmanager configuration subset; ``amtool check-config`` accepts it as a file."""

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "templates": "hopwatch renders its own messages; remove templates",
    }
    global_: GlobalSpec = Field(default=GlobalSpec(), alias="global")
    route: RouteSpec
    inhibit_rules: list[InhibitRuleSpec] = Field(default_factory=list)
    receivers: list[ReceiverSpec] = Field(min_length=1)
    time_intervals: list[TimeIntervalSpec] = Field(default_factory=list)
    mute_time_intervals: list[TimeIntervalSpec] = Field(default_factory=list)
    """Alertmanager's older name for ``time_intervals``; both are read."""


# --- the extensions section ------------------------------------------------------------------


class SlackExtSpec(Spec):
    """``None`` means not asked for: ``validate`` warns only about what was set explicitly."""

    update_on_change: bool | None = None
    thread_replies: bool | None = None
    token_env: EnvName | None = None
    api_url_env: EnvName | None = None


class PagerDutyExtSpec(Spec):
    routing_key_env: EnvName | None = None


class WebhookExtSpec(Spec):
    url_env: EnvName | None = None


class ReceiverExtSpec(Spec):
    """hopwatch's additions to one receiver of the alertmanager section, by its name."""

    console: bool = False
    slack: SlackExtSpec | None = None
    pagerduty: PagerDutyExtSpec | None = None
    webhook: WebhookExtSpec | None = None


class ForwardSpec(Spec):
    alertmanager_urls: Annotated[list[Url], AfterValidator(_unique)] = Field(min_length=1)


class ExtensionsSpec(Spec):
    delivery: Annotated[
        str, BeforeValidator(named_choice("delivery mode", "builtin", "forward"))
    ] = "builtin"
    forward: ForwardSpec | None = None
    topology_inhibition: bool = True
    external_url: Url = "http://127.0.0.1:9464"
    receivers: dict[str, ReceiverExtSpec] = Field(default_factory=dict)


class RoutingSpec(DocumentSpec):
    """``apiVersion: hopwatch/v1``, ``kind: Routing``: where alerts go."""

    kind: Annotated[str, BeforeValidator(kind_is(ROUTING_KIND))]
    alertmanager: AlertmanagerSpec
    extensions: ExtensionsSpec = ExtensionsSpec()


@functools.cache
def routing_spec(plugins: tuple[IntegrationSpec, ...] = ()) -> type[RoutingSpec]:
    """``RoutingSpec`` with each plug-in integration's ``<name>_configs`` in ``ReceiverSpec`` and
    its extension settings in ``ReceiverExtSpec`` (models built once per set of plug-ins)."""
    if not plugins:
        return RoutingSpec
    keys = (*BUILTIN_KEYS, *(p.key for p in plugins))
    receiver: Any = create_model(  # type: ignore[call-overload]
        "ReceiverSpec",
        __base__=ReceiverSpec,
        **{p.key: (list[p.config], Field(default_factory=list)) for p in plugins},  # type: ignore[name-defined]
    )
    receiver.UNSUPPORTED = dict.fromkeys(ReceiverSpec.UNSUPPORTED, _integrations(keys))
    ext: Any = create_model(  # type: ignore[call-overload]
        "ReceiverExtSpec",
        __base__=ReceiverExtSpec,
        **{p.name: (p.extension | None, None) for p in plugins if p.extension is not None},
    )
    am: Any = create_model(
        "AlertmanagerSpec",
        __base__=AlertmanagerSpec,
        receivers=(list[receiver], Field(min_length=1)),
    )
    extensions: Any = create_model(
        "ExtensionsSpec",
        __base__=ExtensionsSpec,
        receivers=(dict[str, ext], Field(default_factory=dict)),
    )
    model: type[RoutingSpec] = create_model(
        "RoutingSpec",
        __base__=RoutingSpec,
        alertmanager=(am, ...),
        extensions=(extensions, extensions()),
    )
    return model


__all__ = ["ROUTING_KIND", "RouteSpec", "RoutingSpec", "prom_duration", "routing_spec"]
