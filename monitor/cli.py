"""The ``hopwatch`` command (also ``python -m monitor``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from monitor import __version__


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hopwatch",
        description="Watch an event pipeline hop by hop: loss, delay, duplicates and skew.",
    )
    parser.add_argument("--version", action="version", version=f"hopwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", default="hopwatch.yaml", help="main config file")
    run.add_argument("--listen", type=_listen, help="HOST:PORT (overrides server.listen)")
    run.add_argument("--data-dir", type=Path, help="state directory (overrides storage.data_dir)")
    run.add_argument(
        "--mode",
        choices=["server", "agent", "worker"],
        default="server",
        help="server: the whole daemon (default); agent: bucket next to a hop and forward "
        "aggregates to --server; worker: consume the observations topic (--kafka) in a "
        "consumer group and forward aggregates to --server",
    )
    run.add_argument(
        "--kafka", metavar="HOST:PORT[,…]", help="worker mode: the Kafka bootstrap servers"
    )
    run.add_argument(
        "--topic", default="hopwatch-observations", help="worker mode: the observations topic"
    )
    run.add_argument("--group", default="hopwatch-workers", help="worker mode: consumer group")
    run.add_argument(
        "--consumer",
        metavar="KEY=VALUE",
        action="append",
        type=_consumer_setting,
        default=[],
        help="worker mode: a librdkafka consumer setting (TLS, SASL, session.timeout.ms …); "
        "repeatable",
    )
    run.add_argument(
        "--server", metavar="URL", help="agent mode: the server (overrides agent.server)"
    )
    run.add_argument(
        "--agent-id", metavar="NAME", help="agent mode: this agent's id (default: host name)"
    )
    _log_args(run)

    validate = sub.add_parser("validate", help="check config files; every error at once")
    validate.add_argument("paths", nargs="*", help="files to check (default: hopwatch.yaml)")

    slo = sub.add_parser("slo", help="SLO status and explanations")
    slo_sub = slo.add_subparsers(dest="slo_command", required=True)
    status = slo_sub.add_parser("status", help="a table of every SLO from a running hopwatch")
    status.add_argument("--url", default="http://127.0.0.1:9464", help="the daemon's base URL")
    status.add_argument(
        "--config",
        help="the daemon's config: its address (server.listen) and, when reads need one, a "
        "read token from server.auth, in place of --url",
    )
    explain = slo_sub.add_parser("explain", help="an SLO's alerting tiers in plain language")
    explain.add_argument("name", help="SLO name")
    explain.add_argument("--config", default="hopwatch.yaml", help="main config file")

    from monitor.silence_cli import add_arguments as silence_arguments

    silence_arguments(sub.add_parser("silence", help="add, list and expire silences"))

    export = sub.add_parser("export", help="generate files from the config")
    export_sub = export.add_subparsers(dest="export_command", required=True)
    rules = export_sub.add_parser(
        "prometheus-rules", help="recording and alerting rules for every SLO group"
    )
    rules.add_argument("--config", default="hopwatch.yaml", help="main config file")
    rules.add_argument(
        "--out", type=Path, default=Path("prometheus-rules"), help="output directory"
    )
    rules.add_argument(
        "--format",
        choices=["prometheus", "prometheus-operator"],
        default="prometheus",
        help="prometheus: <file>.rules.yml rule files (default); prometheus-operator: one "
        "PrometheusRule object per SLO file, <file>.prometheusrule.yaml",
    )

    grafana = export_sub.add_parser(
        "grafana", help="Grafana dashboards for the pipelines, SLOs and checks of the config"
    )
    grafana.add_argument("--config", default="hopwatch.yaml", help="main config file")
    grafana.add_argument(
        "--out",
        type=Path,
        default=Path("grafana/provisioning/dashboards/hopwatch"),
        help="output directory",
    )

    replay = sub.add_parser(
        "replay",
        help="run checks over history and say what they would have fired",
        description="Replay checks (and completeness SLOs) over the store's closed buckets "
        "(default), over CSVs of counts (--counts), or one detector over a NAB-format "
        "timestamp,value CSV (--series). See docs/checks.md, Replay.",
    )
    source = replay.add_mutually_exclusive_group()
    source.add_argument(
        "--series", type=Path, metavar="FILE", help="a timestamp,value CSV (NAB format)"
    )
    source.add_argument(
        "--counts",
        type=Path,
        action="append",
        metavar="FILE",
        help="a CSV of hop counts (timestamp,pipeline,hop,count[,status][,<attribute>...]) or "
        "edge counts (timestamp,pipeline,edge,expected,arrived); repeatable",
    )
    replay.add_argument(
        "--config", type=Path, metavar="FILE", help="main config file (default: hopwatch.yaml)"
    )
    replay.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="state directory (default: storage.data_dir)"
    )
    replay.add_argument(
        "--check",
        dest="checks",
        action="append",
        metavar="NAME",
        help="replay only this check or completeness SLO; repeatable (default: all)",
    )
    replay.add_argument(
        "--since",
        metavar="T",
        help="first bucket start: ISO 8601 time, epoch seconds, or a duration ago (7d)",
    )
    replay.add_argument(
        "--until",
        metavar="T",
        help="last bucket start, exclusive: ISO 8601, epoch seconds, or a duration ago",
    )
    replay.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="CSV to write: timestamp,value,score,alert (--series) or "
        "timestamp,check,series,value,score,alert; required with --series",
    )
    replay.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.svg|png",
        help="draw each replayed series (alerting ones first), its baseline band, the "
        "detector's statistic against its threshold and the alerts, to an SVG or PNG",
    )
    replay.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="labelled incidents for precision, recall and delay: a start,end CSV or YAML list "
        "(a NAB windows JSON with --series)",
    )

    _routes_args(sub)
    _reconcile_args(sub)

    demo = sub.add_parser("demo", help="the daemon on the example pipeline with the simulator")
    demo.add_argument("--config", default=None, help="main config (default: the bundled example)")
    demo.add_argument("--scenario", default=None, help="simulation scenario (default: bundled)")
    demo.add_argument(
        "--listen",
        type=_listen,
        default="127.0.0.1:9464",  # argparse passes a string default through ``type``
        help="HOST:PORT of the demo's daemon (its status page is at /)",
    )
    demo.add_argument("--speed", type=float, help="simulated seconds per real second")
    demo.add_argument("--data-dir", type=Path, help="state directory (default: a temporary one)")
    demo.add_argument("--duration", type=float, help="stop after this many real seconds")
    _log_args(demo, default_format="text", default_level="warning")
    _describe(parser)
    return parser


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``ArgumentDefaultsHelpFormatter`` without ``(default: None)`` on flags that have none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        if action.help is None:  # a flag with no help text still shows its default
            return "(default: %(default)s)"
        return super()._get_help_string(action)


def _describe(parser: argparse.ArgumentParser) -> None:
    """Every command's ``--help`` shows its defaults and has a description (its one-line help
    when it has none of its own): a user reading ``hopwatch run --help`` should not have to read
    the source to learn what a flag does when left out."""
    parser.formatter_class = _DefaultsFormatter
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, sub in action.choices.items():
            text = helps.get(name)
            if sub.description is None and text:
                sub.description = text[0].upper() + text[1:] + "."
            _describe(sub)


def _reconcile_args(sub: argparse._SubParsersAction) -> None:
    reconcile = sub.add_parser(
        "reconcile",
        help="reconcile a past time range from NDJSON files, as the daemon would have live",
        description="Feed the observations of a past time range, read from one NDJSON file per "
        "hop (the push format, docs/observations.md), through the same ledger the daemon runs, "
        "in the order they were observed, and print each edge's expected/arrived/missing/late "
        "per bucket (or write them as JSON). Use it to try hopwatch on yesterday's data, or to "
        "backfill history the daemon answered as too_late_for_edges. Pulled sources (SQL, "
        "Prometheus) are not read: export their rows as NDJSON.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    reconcile.add_argument("--config", type=Path, default=Path("hopwatch.yaml"), help="main config")
    reconcile.add_argument(
        "--pipeline", help="the pipeline (needed only when the config has more than one)"
    )
    reconcile.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="T",
        help="first event time: ISO 8601 (2024-05-01T00:00:00Z) or epoch seconds",
    )
    reconcile.add_argument(
        "--to", dest="end", required=True, metavar="T", help="end of the range, exclusive"
    )
    reconcile.add_argument(
        "--files",
        action="append",
        required=True,
        metavar="HOP=PATH",
        help="a hop's observations, NDJSON; repeat per hop",
    )
    reconcile.add_argument("--out", type=Path, metavar="FILE.json", help="write JSON here")


def _reconcile(args: argparse.Namespace) -> int:
    """``hopwatch reconcile``: parse the arguments, load the config, run the replay."""
    from monitor.config import ConfigError
    from monitor.replay.history_inputs import parse_instant
    from monitor.replay.reconcile import parse_hop_file, reconcile_command
    from monitor.validate import load_config

    try:
        start, end = parse_instant(args.start), parse_instant(args.end)
        files = [parse_hop_file(f) for f in args.files]
    except ValueError as err:
        print(f"hopwatch reconcile: {err}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    return reconcile_command(
        config, args.pipeline, files, start, end, args.out, sys.stdout, sys.stderr
    )


def _routes_args(sub: argparse._SubParsersAction) -> None:
    routes = sub.add_parser("routes", help="where alerts go: amtool's route commands, offline")
    routes_sub = routes.add_subparsers(dest="routes_command", required=True)
    test = routes_sub.add_parser(
        "test",
        help="print the receivers an alert with these labels reaches (as amtool config routes test)",
    )
    test.add_argument("labels", nargs="*", metavar="label=value", help="the alert's labels")
    show = routes_sub.add_parser("show", help="print the routing tree (as amtool config routes)")
    for p in (test, show):
        p.add_argument(
            "--config",
            type=Path,
            default=Path("hopwatch.yaml"),
            help="main config or one kind: Routing file (default: hopwatch.yaml)",
        )
    test.add_argument(
        "--verify.receivers",
        "--verify-receivers",
        dest="verify",
        metavar="R1,R2",
        help="exit 1 unless the receivers are exactly these",
    )
    test.add_argument("--tree", action="store_true", help="also print the matching routes")


def _log_args(
    p: argparse.ArgumentParser, default_format: str = "json", default_level: str = "info"
) -> None:
    p.add_argument(
        "--log-format",
        choices=["json", "text"],
        default=default_format,
        help="one JSON object a line (for log collectors) or plain text",
    )
    p.add_argument(
        "--log-level",
        default=default_level,
        choices=["debug", "info", "warning", "error"],
        help="the least severe log line written",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "validate":
        from monitor.validate import validate_command

        return validate_command(args.paths or ["hopwatch.yaml"])
    if args.command == "run":
        return _run(args)
    if args.command == "slo":
        from monitor.slo_cli import explain_command, status_command

        if args.slo_command == "status":
            return status_command(args.url, config=args.config)
        return explain_command(args.config, args.name)
    if args.command == "export" and args.export_command == "grafana":
        from monitor.slo_cli import export_grafana_command

        return export_grafana_command(args.config, args.out)
    if args.command == "export":
        from monitor.slo_cli import export_rules_command

        return export_rules_command(args.config, args.out, format=args.format)
    if args.command == "replay":
        return _replay(args)
    if args.command == "reconcile":
        return _reconcile(args)
    if args.command == "silence":
        from monitor.silence_cli import silence_command

        return silence_command(args)
    if args.command == "routes":
        from monitor.routing.cli import routes_show_command, routes_test_command

        if args.routes_command == "show":
            return routes_show_command(args.config, sys.stdout, sys.stderr)
        return routes_test_command(
            args.config, args.labels, sys.stdout, sys.stderr, verify=args.verify, tree=args.tree
        )
    if args.command == "demo":
        from monitor.demo import run_demo

        return run_demo(args)
    return 2


def _replay(args: argparse.Namespace) -> int:
    """``hopwatch replay``: a NAB series, or checks over the store or counts files."""
    if args.series is not None:
        from monitor.replay.series import replay_command

        flags = {"config": "--config", "data_dir": "--data-dir", "checks": "--check"}
        flags |= {"since": "--since", "until": "--until", "plot": "--plot"}
        extra = [flag for name, flag in flags.items() if getattr(args, name) is not None]
        if args.out is None or extra:
            verb = "does" if len(extra) == 1 else "do"
            what = f"{', '.join(extra)} {verb} not apply" if extra else "--out is required"
            print(f"hopwatch replay: {what} with --series", file=sys.stderr)
            return 2
        return replay_command(args.series, args.out, args.labels, sys.stdout)
    import time

    from monitor.replay.history_cli import HistoryRequest, history_command
    from monitor.store import DB_FILENAME, StoreError, open_store

    def open_existing(data_dir: Path) -> object:
        path = Path(data_dir) / DB_FILENAME
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no hopwatch database; point --data-dir at the directory the daemon "
                "writes (storage.data_dir of its config)"
            )
        return open_store(data_dir)

    request = HistoryRequest(
        config=args.config or Path("hopwatch.yaml"),
        counts=tuple(args.counts or ()),
        data_dir=args.data_dir,
        checks=tuple(args.checks or ()),
        since=args.since,
        until=args.until,
        labels=args.labels,
        out=args.out,
        plot=args.plot,
    )
    return history_command(
        request, open_existing, time.time(), sys.stdout, sys.stderr, store_errors=(StoreError,)
    )


def _run(args: argparse.Namespace) -> int:
    from monitor.clock import SystemClock
    from monitor.config import ConfigError
    from monitor.daemon import Daemon
    from monitor.logs import setup_logging
    from monitor.reload import load_all
    from monitor.store import StoreError, open_store

    setup_logging(args.log_format, args.log_level)
    try:
        # The same loader a reload (SIGHUP, POST /-/reload) uses: what starts, reloads.
        loaded = load_all(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    config = file_config = loaded.config
    server = config.server
    if args.listen:
        server = dataclasses.replace(server, host=args.listen[0], port=args.listen[1])
    storage = config.storage
    if args.data_dir:
        storage = dataclasses.replace(storage, data_dir=args.data_dir)
    config = dataclasses.replace(config, server=server, storage=storage)
    if not _auth_ok(server):
        return 2
    if args.mode == "agent":
        return _run_agent(args, config)
    if args.mode == "worker":
        return _run_worker(args, config)
    from monitor.alerting.nflog import NflogPersistence
    from monitor.store import Store
    from monitor.store.nflog_sqlite import open_nflog
    from monitor.store.shared import open_shared
    from monitor.store.silence_sqlite import SQLiteSilences

    shared = None
    store: Store
    nflog: NflogPersistence
    try:
        if storage.postgres is not None:  # a leader and standbys (monitor.standby)
            shared = open_shared(storage.postgres, server.listen)
            store, silences, nflog = shared.store, shared.silences.book(), shared.nflog
        else:
            store = open_store(storage.data_dir)
            silences = SQLiteSilences.in_data_dir(storage.data_dir).book()
            nflog = open_nflog(storage.data_dir)
    except StoreError as err:
        print(f"hopwatch: {err}", file=sys.stderr)
        return 1
    daemon = Daemon(
        config,
        SystemClock(),
        store,
        slos=loaded.slos,
        checks=loaded.checks,
        silences=silences,
        routing=loaded.routing,
        nflog_store=nflog,
        shared=shared,
    )
    daemon.file_config = file_config
    try:
        from monitor.server.fast import run

        run(daemon.serve(server.host, server.port))  # on uvloop when installed
    except StoreError as err:  # a damaged checkpoint or log: one line, no traceback, exit 1
        print(f"hopwatch: {err}", file=sys.stderr)
        return 1
    return daemon.exit_code


def _auth_ok(server: object) -> bool:
    """Refuse open writes on a non-loopback address (one line on stderr); log open mode."""
    import logging

    from monitor.config.auth import exposure_problem
    from monitor.config.model import ServerConfig

    assert isinstance(server, ServerConfig)
    problem = exposure_problem(server.host, server.auth)
    if problem is not None:
        print(f"hopwatch: {problem}", file=sys.stderr)
        return False
    if server.auth.open:
        logging.getLogger("hopwatch.server.auth").warning(
            "server.auth.open is set: writes need no token, on purpose, on loopback %s only",
            server.listen,
        )
    return True


WORKER_OWNED = frozenset({"bootstrap.servers", "group.id", "enable.auto.commit"})
"""Consumer settings a worker sets itself (``--kafka``, ``--group``; commits after the ack)."""


def _consumer_setting(text: str) -> tuple[str, str]:
    """``--consumer KEY=VALUE``; hopwatch's own settings are refused with the flag to use."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE (e.g. session.timeout.ms=6000)"
        )
    if key.strip() in WORKER_OWNED:
        raise argparse.ArgumentTypeError(
            f"{key.strip()} is set by hopwatch (use --kafka and --group; offsets are committed "
            "only after the judge acknowledged them)"
        )
    return key.strip(), value.strip()


def _run_worker(args: argparse.Namespace, config: object) -> int:
    """``hopwatch run --mode worker``: partitions of the observations topic, aggregates to the
    judge. Every worker of a group sends under one agent id (``--agent-id``, default the group),
    as partitions move between them."""
    import signal

    from monitor.agent.worker import Worker
    from monitor.config.model import Config

    assert isinstance(config, Config)
    url = args.server or config.agent.server_url
    if not url or not args.kafka:
        print(
            "hopwatch: worker mode needs --kafka and --server URL (or agent.server)",
            file=sys.stderr,
        )
        return 2
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker = Worker(
        config,
        bootstrap_servers=args.kafka,
        topic=args.topic,
        group_id=args.group,
        server_url=url,
        agent_id=args.agent_id or config.agent.agent_id or args.group,
        consumer_config=dict(args.consumer),
    )
    worker.run(config.agent.flush_interval, lambda: stop)
    return 0


def _run_agent(args: argparse.Namespace, config: object) -> int:
    """``hopwatch run --mode agent``: the push API locally, aggregates to the server."""
    import socket

    from monitor.agent.daemon import Agent
    from monitor.clock import SystemClock
    from monitor.config.model import Config

    assert isinstance(config, Config)
    url = args.server or config.agent.server_url
    if not url:
        print("hopwatch: agent mode needs --server URL or agent.server", file=sys.stderr)
        return 2
    agent_id = args.agent_id or config.agent.agent_id or socket.gethostname()
    agent = Agent(config, SystemClock(), config.storage.data_dir, server_url=url, agent_id=agent_id)
    from monitor.server.fast import run

    run(agent.serve(config.server.host, config.server.port))  # on uvloop when installed
    return 0
