"""Generic YAML document validation: YAML with positions + a pydantic spec → issues.

Every kind of hopwatch file (the main config, SLO groups, checks, routing, simulator scenarios) goes
through here, so all of them report problems the same way: a missing key points at its parent
mapping, an unknown key at itself, and common pydantic errors get a message a config author can
act on instead of pydantic's wording.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from monitor.config.errors import ConfigIssue, KeyPath, format_key_path
from monitor.config.spec import API_VERSION, CUSTOM_ERROR, invalid
from monitor.config.yamlpos import Positions, load_yaml

SpecT = TypeVar("SpecT", bound=BaseModel)

MISSING_HINTS = {
    "apiVersion": f"start the file with apiVersion: {API_VERSION}",
    "kind": "say what this file holds",
    "name": None,
    "hops": "list the hops events pass through, e.g. hops: [{name: sdk}, {name: ingest}]",
    "from": "name the hop the events leave",
    "to": "name the hop the events should reach",
}


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return type(value).__name__


def kind_is(expected: str) -> Callable[[Any], str]:
    """The validator of a ``DocumentSpec`` subclass's ``kind``: the file holds ``expected``."""

    def check(value: Any) -> str:
        if value != expected:
            raise invalid(f"expected kind {expected!r}, got {value!r}")
        return str(value)

    return check


def _expected(what: str, value: Any) -> tuple[str, str | None]:
    hint = None
    if isinstance(value, bool):
        hint = "YAML reads yes/no/on/off/true/false as booleans; quote the value"
    elif what == "a string" and isinstance(value, int | float):
        hint = "quote the value"
    elif what == "a list":
        hint = "write [a, b] or one '- item' per line"
    return f"expected {what}, got {type_name(value)}", hint


def _model_at(spec_cls: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The spec model that describes the mapping at ``path`` (for listing its known keys).

    ``path`` is pydantic's location, so a discriminated union's tag (``sources[0].sql.url``)
    picks the member of the union that the document meant."""
    current: type[BaseModel] | None = spec_cls
    members: dict[str, type[BaseModel]] = {}
    for part in path:
        if isinstance(part, str) and part in members:
            current, members = members[part], {}
            continue
        if isinstance(part, int) or current is None:
            continue
        field = next(
            (f for n, f in current.model_fields.items() if (f.alias or n) == part),
            None,
        )
        current = inner_model(field.annotation) if field is not None else None
        members = _tagged_members(field.annotation) if field is not None else {}
    return current


def _tagged_members(annotation: Any) -> dict[str, type[BaseModel]]:
    """The models of a union discriminated by ``kind``, by their tag (nested in lists too)."""
    out: dict[str, type[BaseModel]] = {}
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            kind = arg.model_fields.get("kind")
            tags = typing.get_args(kind.annotation) if kind is not None else ()
            out.update({str(t): arg for t in tags})
        else:
            out.update(_tagged_members(arg))
    return out


def inner_model(annotation: Any) -> type[BaseModel] | None:
    """The spec model inside a field's annotation (``list[X]``, ``X | None``, ``dict[str, X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return None
    for arg in typing.get_args(annotation):
        found = inner_model(arg)
        if found is not None:
            return found
    return None


def _known_tags(spec_cls: type[BaseModel], path: KeyPath) -> str:
    """``'a', 'b'`` for the tagged union holding the item at ``path`` (``…sources[3].kind``)."""
    if len(path) < 3 or not isinstance(path[-3], str):
        return "see the documentation"
    holder = _model_at(spec_cls, path[:-3])
    field = holder.model_fields.get(path[-3]) if holder is not None else None
    tags = _tagged_members(field.annotation) if field is not None else {}
    return ", ".join(repr(t) for t in tags) or "see the documentation"


def _unknown_key(spec_cls: type[BaseModel], path: KeyPath) -> tuple[str, str | None]:
    key = str(path[-1])
    model = _model_at(spec_cls, path[:-1])
    if model is None:
        return f"unknown key {key!r}", None
    known = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown key {key!r}", f"did you mean {close[0]!r}?"
    return f"unknown key {key!r}", f"known keys: {', '.join(known)}"


def _message(
    err: Mapping[str, Any], spec_cls: type[BaseModel], path: KeyPath
) -> tuple[str, str | None]:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == CUSTOM_ERROR:
        return str(ctx["message"]), ctx.get("hint")
    if kind == "union_tag_not_found":
        return "missing required key", f"known kinds: {_known_tags(spec_cls, path)}"
    if kind == "missing":
        key = str(path[-1]) if path else ""
        return "missing required key", MISSING_HINTS.get(key)
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx['tag']!r}", f"known kinds: {ctx['expected_tags']}"
    if kind == "extra_forbidden":
        return _unknown_key(spec_cls, path)
    expected = {
        "string_type": "a string",
        "int_type": "a whole number",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "bool_type": "true or false",
        "list_type": "a list",
        "model_type": "a mapping",
        "dict_type": "a mapping",
        "model_attributes_type": "a mapping",
    }.get(kind)
    if expected is not None:
        if not path and expected == "a mapping":
            return (
                f"expected a mapping of keys, got {type_name(value)}",
                f"a hopwatch file starts with apiVersion: {API_VERSION}",
            )
        if expected == "a mapping" and isinstance(value, str) and len(path) >= 2:
            # ``hops: [web, queue]``: a list of names where a list of mappings belongs.
            return (
                f"expected a mapping, got {type_name(value)}",
                f"each item is a mapping of keys: write '- name: {value}'",
            )
        return _expected(expected, value)
    bounds = {
        "greater_than": ("gt", "greater than"),
        "greater_than_equal": ("ge", "at least"),
        "less_than": ("lt", "less than"),
        "less_than_equal": ("le", "at most"),
    }.get(kind)
    if bounds is not None:
        limit = ctx[bounds[0]]
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)  # "greater than 0", not pydantic's "0.0"
        return f"{value!r} is out of range: it must be {bounds[1]} {limit}", None
    if kind == "too_short":
        return "must not be empty", None
    return str(err["msg"]), None


def document_path(data: Any, loc: tuple[int | str, ...], keep_last: bool = True) -> KeyPath:
    """Pydantic's error location with the parts the document does not have (the tag of a
    discriminated union, e.g. ``faults[0].loss.percent``) left out; the last part is kept, since
    a missing or unknown key is by nature not (or not validly) in the document, unless
    ``keep_last`` is false (a model-level check of a tagged mapping ends in its tag)."""
    out: list[int | str] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1 and keep_last
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]  # type: ignore[index]  # checked above: a key of a dict or an index of a list
        elif not last:
            continue
        out.append(part)
    return tuple(out)


def pydantic_issues(
    file: str,
    exc: ValidationError,
    positions: Positions,
    spec_cls: type[BaseModel],
    data: Any = None,
) -> list[ConfigIssue]:
    """Map pydantic errors to issues: a missing key points at its parent mapping, anything else
    at the key itself (or the nearest ancestor the document has)."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err["type"].startswith("union_tag_"):
            # Name the tag key itself (``sources[1].kind``), present or missing.
            loc = (*loc, str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"))
        custom = err["type"] == CUSTOM_ERROR
        path: KeyPath = loc if data is None else document_path(data, loc, not custom)
        missing = err["type"] in ("missing", "union_tag_not_found")
        line, col = positions.of(path[:-1] if missing else path)
        message, hint = _message(err, spec_cls, path if err["type"] != "extra_forbidden" else loc)
        issues.append(ConfigIssue(file, line, col, format_key_path(path), message, hint))
    return issues


def validate_data(
    path: Path, data: Any, positions: Positions, spec_cls: type[SpecT]
) -> tuple[SpecT | None, list[ConfigIssue]]:
    """Check already-parsed YAML against ``spec_cls``; for ``monitor.validate.KINDS`` functions."""
    try:
        return spec_cls.model_validate(data), []
    except ValidationError as exc:
        return None, pydantic_issues(str(path), exc, positions, spec_cls, data)


def load_document(
    path: Path | str, spec_cls: type[SpecT]
) -> tuple[SpecT | None, list[ConfigIssue]]:
    """Read a YAML file and validate it against ``spec_cls``, with positions on every issue.

    Returns the spec only when the file is free of errors (duplicate keys included)."""
    path = Path(path)
    doc = load_yaml(path)
    issues = list(doc.issues)
    if not doc.readable:
        return None, issues
    spec, schema_issues = validate_data(path, doc.data, doc.positions, spec_cls)
    issues.extend(schema_issues)
    return (spec if not any(i.is_error for i in issues) else None), issues
