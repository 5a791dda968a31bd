"""Schema issues of a Routing file, reworded for Alertmanager users.

``document.py`` reports a key the spec does not know as "unknown key"; a key Alertmanager knows
but hopwatch does not implement is called that here, with what is supported instead (each spec
model's ``UNSUPPORTED``). A missing top-level key gets a hint, and a type error about a secret
never shows the secret's value. Used by ``load.py`` on every issue of the schema pass.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel

from monitor.config.document import inner_model
from monitor.config.errors import ConfigIssue, KeyPath, parse_key_path
from monitor.routing.spec import RoutingSpec


def _model_at(path: KeyPath, root: type[BaseModel]) -> type[BaseModel] | None:
    """The spec model of the mapping at ``path`` of a Routing document (list indexes skipped)."""
    model: type[BaseModel] | None = root
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = inner_model(field.annotation) if field is not None else None
    return model


_MISSING_HINTS = {
    "alertmanager": "the Alertmanager configuration: route, receivers and optionally "
    "inhibit_rules and time_intervals",
    "route": "the routing tree, e.g. route: {receiver: console}",
}


_SECRET_KEYS = frozenset({"api_url", "slack_api_url", "credentials", "routing_key", "url"})
"""Keys whose values are secrets: a type error about them must not show the value."""


def reword_schema_issue(issue: ConfigIssue, root: type[BaseModel] = RoutingSpec) -> ConfigIssue:
    """Schema issues reworded for this format: an "unknown key" that Alertmanager knows says
    hopwatch does not implement it (and what it does); a secret's value is never shown."""
    path = parse_key_path(issue.path)
    if path and path[-1] in _SECRET_KEYS and issue.message.startswith("expected a string"):
        return replace(issue, message="expected a string", hint="quote the value")
    if issue.message == "missing required key" and issue.hint is None and path:
        return replace(issue, hint=_MISSING_HINTS.get(str(path[-1])))
    if not issue.message.startswith("unknown key"):
        return issue
    model = _model_at(path[:-1], root)
    reasons: dict[str, str] = getattr(model, "UNSUPPORTED", {})
    key = str(path[-1])
    if model is None or key not in reasons:
        return issue
    known = ", ".join(f.alias or n for n, f in model.model_fields.items())
    return replace(
        issue,
        message=f"{key} is an Alertmanager setting hopwatch does not implement",
        hint=f"{reasons[key]}; supported here: {known}",
    )


__all__ = ["reword_schema_issue"]
