"""``hopwatch silence add|list|expire``: silences of a running hopwatch, over its HTTP API.

Modelled on ``amtool silence``: ``add`` prints the new id, ``list`` (``amtool silence query``)
prints a table of ID, Matchers, Ends At, Created By and Comment, ``expire`` takes ids and prints
nothing when it succeeds. The token for the write endpoints comes from ``HOPWATCH_TOKEN`` or
``--token-file``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:9464"
TOKEN_ENV = "HOPWATCH_TOKEN"


def add_arguments(silence: argparse.ArgumentParser) -> None:
    """The ``silence`` subcommands, for ``monitor.cli.build_parser``."""
    sub = silence.add_subparsers(dest="silence_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=DEFAULT_URL, help="the daemon's base URL")
        p.add_argument(
            "--config",
            type=Path,
            help="the daemon's config: its address (server.listen) and an admin token from "
            "server.auth, in place of --url and $HOPWATCH_TOKEN",
        )
        p.add_argument(
            "--token-file",
            type=Path,
            help=f"file holding the bearer token (default: ${TOKEN_ENV}, if set)",
        )

    add = sub.add_parser(
        "add",
        help="silence the alerts matching all MATCHERS",
        description="Add a silence, e.g. hopwatch silence add 'edge=\"identity->activation\"' "
        "--duration 2h --comment 'deploying the resolver'. Prints the new silence's id.",
    )
    add.add_argument(
        "matchers",
        nargs="+",
        metavar="MATCHER",
        help='name="value", name!="v", name=~"re", name!~"re"',
    )
    ends = add.add_mutually_exclusive_group()
    ends.add_argument("-d", "--duration", help="how long from now or from --start (default 1h)")
    ends.add_argument("--end", help="RFC 3339 end time, e.g. 2024-05-01T18:00:00Z")
    add.add_argument("--start", help="RFC 3339 start time (default now)")
    add.add_argument("-a", "--author", help="who silences (default: your login name)")
    add.add_argument("-c", "--comment", required=True, help="why (a ticket, the maintenance)")
    common(add)

    query = sub.add_parser("list", help="a table of the active and pending silences")
    query.add_argument("--expired", action="store_true", help="show the expired ones instead")
    query.add_argument("-q", "--quiet", action="store_true", help="print only the ids")
    common(query)

    expire = sub.add_parser("expire", help="end silences now")
    expire.add_argument("ids", nargs="+", metavar="ID", help="silence ids (from list)")
    common(expire)


def silence_command(
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``hopwatch silence ...``; 0 on success, 1 when the daemon refused, 2 on usage."""
    import httpx  # here, not at the top: ``hopwatch --help`` should not pay for it

    environ = os.environ if environ is None else environ
    out, err = out or sys.stdout, err or sys.stderr

    try:
        token = _token(args.token_file, environ)
    except OSError as exc:
        print(f"hopwatch silence: cannot read --token-file {args.token_file}: {exc}", file=err)
        return 2
    url = args.url
    if getattr(args, "config", None) is not None:
        from monitor.config.auth import Scope
        from monitor.config.errors import ConfigError
        from monitor.daemon_address import from_config

        scope = Scope.READ if args.silence_command == "list" else Scope.ADMIN
        try:
            address = from_config(args.config, scope, environ)
        except ConfigError as exc:
            print(f"hopwatch silence: {exc}", file=err)
            return 2
        url, token = address.url, token or address.token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = url.rstrip("/") + "/api/v1/silences"
    try:
        with httpx.Client(headers=headers, timeout=10) as client:
            if args.silence_command == "add":
                return _add(client, base, args, environ, out, err)
            if args.silence_command == "list":
                return _list(client, base, args, out, err)
            return _expire(client, base, args.ids, err)
    except httpx.TransportError as exc:
        print(
            f"hopwatch silence: cannot reach {url} ({exc}); is hopwatch running there? (see --url)",
            file=err,
        )
        return 1


def _token(token_file: Path | None, environ: Mapping[str, str]) -> str | None:
    if token_file is not None:
        return token_file.read_text().strip() or None
    return environ.get(TOKEN_ENV) or None


def _refused(response: httpx.Response, err: TextIO) -> int:
    try:
        body = response.json()
        field = f" ({body['field']})" if body.get("field") else ""
        text = f"{body['error']}{field}; {body['hint']}"
    except (ValueError, KeyError, TypeError, AttributeError):
        text = response.text.strip() or response.reason_phrase
    print(f"hopwatch silence: {response.status_code}: {text}", file=err)
    return 1


def _add(
    client: httpx.Client,
    base: str,
    args: argparse.Namespace,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
) -> int:
    author = args.author or environ.get("USER") or environ.get("LOGNAME") or getpass.getuser()
    body: dict[str, Any] = {"matchers": args.matchers, "createdBy": author, "comment": args.comment}
    if args.start:
        body["startsAt"] = args.start
    if args.end:
        body["endsAt"] = args.end
    else:
        body["duration"] = args.duration or "1h"
    response = client.post(base, json=body)
    if response.status_code != 201:
        return _refused(response, err)
    print(response.json()["id"], file=out)
    return 0


def _list(
    client: httpx.Client, base: str, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    states = "expired" if args.expired else "active,pending"
    response = client.get(base, params={"state": states})
    if response.status_code != 200:
        return _refused(response, err)
    silences = response.json()
    if args.quiet:
        for s in silences:
            print(s["id"], file=out)
        return 0
    rows = [
        [
            s["id"],
            _matchers(s["matchers"]),
            _when(s["endsAt"]),
            s["createdBy"],
            " ".join(s["comment"].split()),
        ]
        for s in silences
    ]
    out.write(format_table(["ID", "Matchers", "Ends At", "Created By", "Comment"], rows))
    return 0


def _expire(client: httpx.Client, base: str, ids: Sequence[str], err: TextIO) -> int:
    failed = 0
    for silence_id in ids:
        response = client.delete(f"{base}/{silence_id}")
        if response.status_code != 204:
            failed += 1
            _refused(response, err)
    return 1 if failed else 0


def _matchers(matchers: list[dict[str, Any]]) -> str:
    from monitor.routing.model import Matcher, MatchOp

    ops = {
        (False, True): MatchOp.EQ,
        (False, False): MatchOp.NE,
        (True, True): MatchOp.RE,
        (True, False): MatchOp.NRE,
    }
    return " ".join(
        str(Matcher(m["name"], ops[(m["isRegex"], m["isEqual"])], m["value"])) for m in matchers
    )


def _when(rfc3339: str) -> str:
    """``2024-05-01 18:00:00 UTC``, as amtool prints times."""
    at = datetime.fromisoformat(rfc3339).astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart (amtool's tabwriter layout)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
