"""``sourcewatch`` — one command with a sub-command per process or operator task."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from schemas.cases.kinds import CASE_KINDS, SEVERITIES
from schemas.system_alerts import ALERT_KINDS
from sourcewatch import commands, operations

__all__ = ["main"]


log = logging.getLogger("sourcewatch")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    import psycopg

    from schemas.core.settings import get_settings
    from sourcewatch.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        result: int = args.run(args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except psycopg.OperationalError as exc:  # no server there, or a role or database it lacks
        print(  # noqa: T201  (a sentence, not a traceback: the command's user can act on it)
            f"error: the database in SOURCEWATCH_DATABASE_URL: {exc}", file=sys.stderr
        )
        return 1
    return result


Example = tuple[str, str]  # (command line, what it does)
_Sub = argparse._SubParsersAction


def _epilog(examples: Sequence[Example]) -> str:
    return "examples:\n" + "\n".join(f"  {line}\n      {what}" for line, what in examples)


def _add(
    sub: _Sub[argparse.ArgumentParser], name: str, help: str, *examples: Example
) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` says what it does and ends with examples, line by line."""
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=_epilog(examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _progress_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only when stderr is a terminal)",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sourcewatch",
        description=__doc__,
        epilog=_epilog(
            [
                ("sourcewatch up", "everything in one process, with simulated enterprises"),
                ("sourcewatch COMMAND --help", "what a command does, its options and examples"),
            ]
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(metavar="COMMAND")

    m = _add(
        sub,
        "migrate",
        "apply database migrations and load the code tables",
        ("sourcewatch migrate", "apply pending migrations, reload pollutants, flags, limits"),
        (
            "SOURCEWATCH_DATABASE_URL=postgresql://postgres@db/sourcewatch sourcewatch migrate",
            "the same on another server",
        ),
    )
    m.set_defaults(run=commands.migrate)

    db = _add(
        sub,
        "db",
        "database roles of the processes and their logins",
        ("sourcewatch db roles", "create sourcewatch_api, _ingest, _alerts and grant them"),
        ("sourcewatch db credentials --out deploy/db", "the compose files' database logins"),
    ).add_subparsers(metavar="ACTION")
    dbr = _add(
        db,
        "roles",
        "create one login role per process (api, ingest, alerts) and (re)grant what each may "
        "write; run it as the tables' owner after `sourcewatch migrate`",
        ("sourcewatch db roles", "roles without passwords (local trust or peer authentication)"),
        (
            (
                "sourcewatch db roles --password-env api=API_DB_PASSWORD "
                "--password-env ingest=INGEST_DB_PASSWORD --password-env alerts=ALERTS_DB_PASSWORD"
            ),
            "and set each role's password from an environment variable",
        ),
    )
    dbr.add_argument(
        "--prefix",
        default="sourcewatch",
        help="role names are PREFIX_api, PREFIX_ingest, PREFIX_alerts (default sourcewatch)",
    )
    dbr.add_argument(
        "--password-env",
        dest="password_env",
        action="append",
        default=[],
        metavar="PROCESS=VARIABLE",
        help="set the role's password from this environment variable; repeatable",
    )
    dbr.set_defaults(run=commands.db_roles)
    dbc = _add(
        db,
        "credentials",
        "write the database logins of deploy/compose.yaml: one env file per process with its "
        "own role's URL (0600; passwords already there are kept)",
        ("sourcewatch db credentials --out deploy/db", "before the first docker compose up"),
    )
    dbc.add_argument("--out", type=Path, required=True, metavar="DIR")
    dbc.add_argument("--host", default="timescaledb", help="database host (default timescaledb)")
    dbc.add_argument("--port", type=int, default=5432, help="database port (default 5432)")
    dbc.add_argument("--database", default="sourcewatch", help="database (default sourcewatch)")
    dbc.add_argument("--prefix", default="sourcewatch", help="role name prefix (see db roles)")
    dbc.set_defaults(run=commands.db_credentials)

    reg = _add(
        sub,
        "registry",
        "enterprise and outlet registry",
        (
            "sourcewatch registry import deploy/demo/registry.json",
            "load the demo enterprises and outlets",
        ),
    ).add_subparsers(metavar="ACTION")
    imp = _add(
        reg,
        "import",
        "load enterprises and outlets from a CSV or JSON file",
        (
            "sourcewatch registry import deploy/demo/registry.json",
            "load a JSON registry (nothing is imported while any row is bad)",
        ),
        (
            "sourcewatch registry import enterprises.csv --no-progress",
            "load a CSV registry without the progress bar",
        ),
    )
    imp.add_argument("file", type=Path)
    _progress_argument(imp)
    imp.set_defaults(run=commands.registry_import)

    _limits_commands(sub)
    chk = _add(
        sub,
        "check",
        "report the operating problems sourcewatch can see (exit 1 when there is any)",
        (
            "sourcewatch check",
            "unjudged or silent outlets, broker drops, signing key, calendar, overdue requests",
        ),
        (
            "sourcewatch check --silent-after 6h",
            "also name outlets that have sent nothing for six hours",
        ),
    )
    chk.add_argument(
        "--silent-after",
        type=_duration,
        default=24 * 3600,
        metavar="DURATION",
        help="an active outlet without data for this long is a problem (default 1d)",
    )
    chk.add_argument(
        "--outage",
        type=_duration,
        default=24 * 3600,
        metavar="DURATION",
        help="the broker's queue must hold what the outlets send in this long (default 1d)",
    )
    chk.add_argument(
        "--assumed-rate",
        type=int,
        default=127,
        metavar="FRAMES_PER_HOUR",
        help="frames an hour of an outlet not heard in the last day (default 127: real-time "
        "data every 30 s, minute data every 10 min and the hourly record, the HJ 212 "
        "examples' RtdInterval and MinInterval)",
    )
    chk.add_argument(
        "--remind-within",
        type=int,
        default=3,
        metavar="DAYS",
        help="requests for information due within this many working days are noted (default 3); "
        "overdue ones are problems",
    )
    chk.set_defaults(run=operations.check)

    hj = _add(
        sub,
        "hj212",
        "HJ 212 tools",
        ("sourcewatch hj212 decode < frames.txt", "decode frames, one JSON object per frame"),
    ).add_subparsers(metavar="ACTION")
    dec = _add(
        hj,
        "decode",
        "decode frames from stdin, one JSON object per frame",
        ("sourcewatch hj212 decode < frames.txt", "one frame per line, CRC checked"),
        (
            "sourcewatch hj212 decode --crc lenient < capture.bin",
            "a raw TCP capture from a logger whose CRC is wrong",
        ),
    )
    dec.add_argument("--crc", choices=["strict", "lenient", "alt"], default="strict")
    dec.set_defaults(run=commands.decode)

    ing = _add(
        sub,
        "ingest",
        "run an MQTT ingest worker",
        ("sourcewatch ingest", "one worker on SOURCEWATCH_MQTT_URL, metrics on :9464"),
        (
            (
                "SOURCEWATCH_MQTT_CLIENT_ID=ingest-2 SOURCEWATCH_MQTT_SHARED_GROUP=ingest "
                "SOURCEWATCH_METRICS_PORT=9465 sourcewatch ingest"
            ),
            "a second worker sharing the load",
        ),
    )
    ing.set_defaults(run=commands.ingest)

    gw = _add(
        sub,
        "gateway",
        "run the HJ 212 TCP gateway for legacy data loggers",
        ("sourcewatch gateway", "listen on SOURCEWATCH_GATEWAY_HOST:PORT (127.0.0.1:9212)"),
        (
            "SOURCEWATCH_GATEWAY_HOST=0.0.0.0 sourcewatch gateway",
            "accept loggers on every interface",
        ),
    )
    gw.set_defaults(run=commands.gateway)

    api = _add(
        sub,
        "api",
        "serve the HTTP API (public, portals, staff)",
        ("sourcewatch api", "serve on 127.0.0.1:8000 (docs at /docs, portal at /portal/)"),
        (
            "SOURCEWATCH_API_HOST=0.0.0.0 SOURCEWATCH_API_PORT=8080 sourcewatch api",
            "serve on every interface, port 8080",
        ),
    )
    api.set_defaults(run=commands.api)

    al = _add(
        sub,
        "alerts",
        "run the evaluator and the notification dispatcher",
        ("sourcewatch alerts", "judge new data, open cases and send notifications"),
        (
            "SOURCEWATCH_METRICS_PORT=9465 sourcewatch alerts",
            "beside an ingest worker on the same host",
        ),
    )
    al.set_defaults(run=commands.alerts)

    subs = _add(
        sub,
        "subscriptions",
        "who is notified of what",
        ("sourcewatch subscriptions list", "the active subscriptions"),
        (
            (
                "sourcewatch subscriptions add --subscriber duty@example.gov.cn --channel email "
                "--target duty@example.gov.cn"
            ),
            "e-mail every alert to the duty officer",
        ),
    ).add_subparsers(metavar="ACTION")
    add = _add(
        subs,
        "add",
        "subscribe someone to alerts",
        (
            (
                "sourcewatch subscriptions add --subscriber duty@example.gov.cn --channel email "
                "--target duty@example.gov.cn --min-severity major"
            ),
            "e-mail major and critical cases",
        ),
        (
            (
                "sourcewatch subscriptions add --subscriber wang.wei --channel webhook "
                "--target https://hooks.example.gov.cn/sw --secret K3y --kind exceedance "
                "--district 320506"
            ),
            "signed webhook for exceedances in one district",
        ),
        (
            (
                "sourcewatch subscriptions add --subscriber ops.li --channel email "
                "--target ops.li@example.gov.cn --system-alerts --no-cases"
            ),
            "tell staff user ops.li of system alerts only (broker drops, failed recalls)",
        ),
    )
    add.add_argument("--subscriber", required=True, help="staff user name or e-mail")
    add.add_argument(
        "--channel", required=True, choices=["webhook", "email", "mqtt", "wecom", "dingtalk"]
    )
    add.add_argument("--target", required=True, help="URL, e-mail address or MQTT topic")
    add.add_argument("--secret", default=None, help="webhook HMAC key or robot sign secret")
    add.add_argument(
        "--kind",
        dest="kinds",
        action="append",
        default=[],
        choices=CASE_KINDS,
    )
    add.add_argument("--pollutant", dest="pollutants", action="append", default=[])
    add.add_argument("--district", dest="districts", action="append", default=[])
    add.add_argument(
        "--enterprise-id", dest="enterprise_ids", action="append", type=int, default=[]
    )
    add.add_argument("--min-severity", default="info", choices=SEVERITIES)
    add.add_argument("--max-per-hour", type=int, default=30)
    add.add_argument("--digest-after", type=int, default=None)
    add.add_argument(
        "--system-alerts",
        action="store_true",
        help="also tell of system alerts (the subscriber must be an active staff user's name)",
    )
    add.add_argument(
        "--system-alert-kind",
        dest="system_alert_kinds",
        action="append",
        default=[],
        choices=ALERT_KINDS,
        help="only these kinds of system alert (default: every kind)",
    )
    add.add_argument("--no-cases", dest="cases", action="store_false", help="no case notifications")
    add.set_defaults(run=commands.subscriptions_add)
    ls = _add(
        subs,
        "list",
        "list active subscriptions",
        ("sourcewatch subscriptions list", "id, subscriber, channel, severity, target"),
    )
    ls.set_defaults(run=commands.subscriptions_list)
    rm = _add(
        subs,
        "remove",
        "deactivate a subscription",
        (
            "sourcewatch subscriptions remove 12",
            "stop subscription 12 and cancel its pending notifications",
        ),
    )
    rm.add_argument("subscription_id", type=int)
    rm.set_defaults(run=commands.subscriptions_remove)

    staff = _add(
        sub,
        "staff",
        "staff accounts and API tokens",
        ("sourcewatch staff add li.na --role editor", "a new editor and her token"),
        ("sourcewatch staff revoke --user li.na", "revoke every token of a user"),
    ).add_subparsers(metavar="ACTION")
    sa = _add(
        staff,
        "add",
        "create or update a staff user and print a new token",
        (
            "sourcewatch staff add li.na --role editor --name 李娜 --expires 90",
            "an editor whose token expires in 90 days",
        ),
        (
            "sourcewatch staff add zhao.lei --role enforcement --role viewer",
            "a user with two roles and a token valid for SOURCEWATCH_STAFF_TOKEN_DAYS (90)",
        ),
    )
    sa.add_argument("username")
    sa.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=["viewer", "editor", "enforcement", "admin"],
    )
    sa.add_argument("--name", default=None, help="display name")
    sa.add_argument("--label", default=None, help="what the token is for")
    sa.add_argument(
        "--expires",
        type=int,
        default=None,
        metavar="DAYS",
        help="the token expires after this many days (default: SOURCEWATCH_STAFF_TOKEN_DAYS)",
    )
    sa.set_defaults(run=commands.staff_add)
    st = _add(
        staff,
        "token",
        "print a new token for an existing staff user",
        (
            "sourcewatch staff token li.na --label laptop --expires 30",
            "a second token, valid for 30 days",
        ),
    )
    st.add_argument("username")
    st.add_argument("--label", default=None, help="what the token is for")
    st.add_argument(
        "--expires",
        type=int,
        default=None,
        metavar="DAYS",
        help="the token expires after this many days (default: SOURCEWATCH_STAFF_TOKEN_DAYS)",
    )
    st.set_defaults(run=commands.staff_token)
    sr = _add(
        staff,
        "revoke",
        "revoke a token, or every token of a user",
        ("sourcewatch staff revoke --user li.na", "every live token of li.na"),
        (
            'echo "$TOKEN" | sourcewatch staff revoke --token -',
            "one token, read from stdin (kept out of the shell history)",
        ),
    )
    who = sr.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", default=None, help="the token to revoke (read from stdin if '-')")
    who.add_argument("--user", default=None, help="revoke every live token of this user")
    sr.set_defaults(run=commands.staff_revoke)
    sp = _add(
        staff,
        "password",
        "set a staff user's console password (argon2id hash; read from the terminal or stdin)",
        ("sourcewatch staff password li.na", "asks twice on the terminal"),
        (
            "printf '%s\\n' \"$PASSWORD\" | sourcewatch staff password li.na --stdin",
            "from a script (kept out of the shell history and the process list)",
        ),
    )
    sp.add_argument("username")
    sp.add_argument(
        "--stdin", action="store_true", help="read the password from stdin's first line"
    )
    sp.set_defaults(run=commands.staff_password)

    dev = _add(
        sub,
        "devices",
        "data logger broker credentials",
        (
            "sourcewatch devices acl --out deploy/broker",
            "broker passwd/acl files for every active outlet",
        ),
    ).add_subparsers(metavar="ACTION")
    acl = _add(
        dev,
        "acl",
        "write the broker passwd/acl files and device credentials",
        (
            "sourcewatch devices acl --out deploy/broker",
            "generated passwords for every active outlet's data logger",
        ),
        (
            (
                "sourcewatch devices acl --out deploy/broker --from-file passwords.csv "
                "--broker-host mqtt.example.gov.cn --broker-port 8883"
            ),
            "keep the passwords the loggers already have",
        ),
    )
    acl.add_argument("--out", type=Path, required=True, metavar="DIR")
    acl.add_argument(
        "--from-file",
        type=Path,
        default=None,
        metavar="CSV",
        help="mn,password rows to use instead of generated passwords",
    )
    acl.add_argument("--broker-host", default="mosquitto", help="host in services.env URLs")
    acl.add_argument("--broker-port", type=int, default=1883)
    acl.set_defaults(run=commands.devices_acl)

    up = _add(
        sub,
        "up",
        "migrate, register simulated enterprises, ingest their data",
        ("sourcewatch up", "private PostgreSQL and MQTT broker, data in ./var"),
        (
            "sourcewatch up --data /srv/sourcewatch --enterprises 20 --seed 7",
            "20 simulated enterprises, data kept in /srv/sourcewatch",
        ),
        ("sourcewatch up --broker aedes", "the Node.js broker even where Mosquitto is"),
    )
    up.add_argument("--enterprises", type=int, default=5)
    up.add_argument("--seed", type=int, default=1)
    up.add_argument(
        "--data",
        type=Path,
        default=Path("var"),
        metavar="DIR",
        help="where the private PostgreSQL cluster is kept (default: ./var)",
    )
    up.add_argument(
        "--history",
        type=_duration,
        default=24 * 3600,
        metavar="DURATION",
        help="simulated past uploaded first, e.g. 6h, 2d, 0 for none (default 1d; "
        "after an earlier run only what is missing)",
    )
    up.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "aedes"),
        default="auto",
        help="private MQTT broker when SOURCEWATCH_MQTT_URL is unset (default auto: "
        "Mosquitto where installed, else Aedes on Node.js)",
    )
    up.set_defaults(run=commands.up)

    sim = _add(
        sub,
        "simulate",
        "publish simulated HJ 212 traffic to the broker",
        (
            "sourcewatch simulate --enterprises 5 --interval 30",
            "five enterprises in real time, until Ctrl-C",
        ),
        (
            "sourcewatch simulate --fast --from 2026-03-01T00:00 --duration 1d --seed 7",
            "back-fill one day as fast as the broker takes it",
        ),
        (
            "sourcewatch simulate --enterprises 3 --write-registry sim.json --duration 2h",
            "also write the simulated registry for `sourcewatch registry import`",
        ),
    )
    _simulator_arguments(sim)
    _progress_argument(sim)
    sim.set_defaults(run=commands.simulate)

    comp = _add(
        sub,
        "completeness",
        "an outlet's transmission and validity rates, and its open gaps",
        (
            "sourcewatch completeness 0CA065A6F43A75F68D981728",
            "传输率, 有效率 and 传输有效率 of each of the last 7 days (hourly data)",
        ),
        (
            (
                "sourcewatch completeness 0CA065A6F43A75F68D981728 --period month"
                " --from 2026-01-01 --to 2026-11-30 --all"
            ),
            "per month, every data kind and pollutant",
        ),
        (
            (
                "sourcewatch completeness 0CA065A6F43A75F68D981728 --from 2026-11-28"
                " --to 2026-11-28 --gaps"
            ),
            "also the hours of that day with records missing, per data kind",
        ),
    )
    comp.add_argument("mn", metavar="MN", help="the outlet's HJ 212 MN")
    comp.add_argument("--period", choices=("day", "month", "quarter"), default="day")
    comp.add_argument(
        "--from",
        dest="first",
        type=date.fromisoformat,
        metavar="DAY",
        help="first local day (default: 6 days before --to)",
    )
    comp.add_argument(
        "--to",
        dest="last",
        type=date.fromisoformat,
        metavar="DAY",
        help="last local day, included (default: today, Asia/Shanghai)",
    )
    comp.add_argument("--all", action="store_true", help="every data kind and pollutant")
    comp.add_argument("--gaps", action="store_true", help="list the open gaps of the days")
    comp.set_defaults(run=commands.completeness)

    ev = _add(
        sub,
        "evidence",
        "write the evidence bundle (ZIP) of a case",
        (
            "sourcewatch evidence 42 -o case-42.zip",
            "raw frames, values, means, limits and history of case 42, with SHA-256 sums",
        ),
    )
    ev.add_argument("case_id", type=int, metavar="CASE_ID")
    ev.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    ev.set_defaults(run=commands.evidence)

    keys = _add(
        sub,
        "keys",
        "signing keys of the publication log",
        ("sourcewatch keys generate", "a new key in var/signing-key.pem"),
    ).add_subparsers(metavar="ACTION")
    kg = _add(
        keys,
        "generate",
        "write a new Ed25519 signing key (PEM, 0600)",
        (
            "sourcewatch keys generate",
            (
                "into SOURCEWATCH_SIGNING_KEY_FILE or "
                "var/signing-key.pem; prints its id and public key"
            ),
        ),
        ("sourcewatch keys generate --out /etc/sourcewatch/signing-key.pem", "into a chosen file"),
    )
    kg.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="default: SOURCEWATCH_SIGNING_KEY_FILE or var/signing-key.pem",
    )
    kg.set_defaults(run=commands.keys_generate)
    ledger = _add(
        sub,
        "ledger",
        "the publication log",
        ("sourcewatch ledger sign", "sign the roots of the completed days"),
    ).add_subparsers(metavar="ACTION")
    lsg = _add(
        ledger,
        "sign",
        "sign the daily roots of the publication log",
        ("sourcewatch ledger sign", "every unsigned day through yesterday"),
        ("sourcewatch ledger sign --through 2026-03-31", ("every unsigned day through 31 March")),
    )
    lsg.add_argument(
        "--through",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="last day to sign (Asia/Shanghai; default yesterday)",
    )
    lsg.set_defaults(run=commands.ledger_sign)
    vf = _add(
        sub,
        "verify",
        "recompute the publication log, its roots and signatures; fails when a completed day "
        "has no root or the log does not lead to a pinned root",
        ("sourcewatch verify", "check the chain, the records and the signed roots"),
        ("sourcewatch verify --public-key ledger-2026.pub", "trust only the published public key"),
        (
            "sourcewatch verify --public-key ledger-2026.pub --pinned roots-2026-11.json",
            "and the log must still lead to the roots saved from /v1/publication/roots",
        ),
        (
            (
                "sourcewatch verify --from https://sourcewatch.example.gov.cn "
                "--public-key ledger-2026.pub --pinned roots-2026-11.json"
            ),
            "the same from the public API alone, without the database (anyone can)",
        ),
    )
    vf.add_argument(
        "--from",
        dest="source",
        default=None,
        metavar="URL",
        help="read the log from the service's public API instead of the database (needs "
        "--public-key); the records themselves are then not compared",
    )
    vf.add_argument(
        "--public-key",
        dest="public_keys",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="trust only these public keys (PEM); repeatable",
    )
    vf.add_argument(
        "--pinned",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="roots saved earlier: lines 'YYYY-MM-DD last_seq root_hash', or the JSON of "
        "/v1/publication/roots or of a dump's publication-roots.json; repeatable",
    )
    vf.set_defaults(run=commands.verify)

    du = _add(
        sub,
        "dump",
        "write the daily bulk dump (CSV, Parquet, manifest)",
        ("sourcewatch dump", "yesterday into SOURCEWATCH_DUMP_DIR (run it daily from cron)"),
        (
            "sourcewatch dump --day 2026-03-31 --days 7 --out /srv/dumps",
            "the week ending 31 March, with a progress bar on a terminal",
        ),
    )
    du.add_argument(
        "--day",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="local (Asia/Shanghai) day; default yesterday",
    )
    du.add_argument(
        "--days",
        type=int,
        default=1,
        metavar="N",
        help="dump N days: --day and the N-1 days before it",
    )
    du.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="default: SOURCEWATCH_DUMP_DIR (var/dumps)",
    )
    _progress_argument(du)
    du.set_defaults(run=commands.dump)
    return p


def _limits_commands(sub: _Sub[argparse.ArgumentParser]) -> None:
    lim = _add(
        sub,
        "limits",
        "what judges each outlet: standards, bindings and permit limits",
        ("sourcewatch limits show 0CA065A6F43A75F68D981728", "the limits in force and from where"),
        ("sourcewatch limits import permit-limits.csv", "load outlet limits from permits"),
    ).add_subparsers(metavar="ACTION")
    imp = _add(
        lim,
        "import",
        "load outlet-specific (permit) limits from a CSV file, versioned and superseding",
        (
            "sourcewatch limits import permit-limits.csv",
            (
                "columns mn, pollutant, value, unit, period, source_document, valid_from (and"
                " value_min, reference_o2, clause, valid_to); nothing is imported while any row"
                " is bad; a changed value becomes a new version"
            ),
        ),
    )
    imp.add_argument("file", type=Path)
    imp.set_defaults(run=operations.limits_import)
    show = _add(
        lim,
        "show",
        "the limits in force for an outlet, where each comes from, its bindings and versions",
        ("sourcewatch limits show 0CA065A6F43A75F68D981728", "today (Asia/Shanghai)"),
        (
            "sourcewatch limits show 0CA065A6F43A75F68D981728 --on 2025-06-30",
            "the limits that judged a past day",
        ),
    )
    show.add_argument("mn", metavar="MN")
    show.add_argument(
        "--on", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD", help="default today"
    )
    show.set_defaults(run=operations.limits_show)
    std = _add(
        lim,
        "standards",
        "the known standards and categories, with medium, validity and pollutants",
        (
            "sourcewatch limits standards",
            "what a registry's emission_standard/limit_category may name",
        ),
    )
    std.set_defaults(run=operations.limits_standards)
    bind = _add(
        lim,
        "bind",
        "bind an outlet to a standard's category from a day",
        (
            (
                "sourcewatch limits bind 0CA065A6F43A75F68D981728 --standard 'GB 13223-2011'"
                " --category coal-boiler-existing --from 2024-01-01"
                " --source 91330206MA2H7K3P0Q001P"
            ),
            "judge the outlet by that category from 2024 on (the permit number is the source)",
        ),
    )
    bind.add_argument("mn", metavar="MN")
    bind.add_argument("--standard", required=True)
    bind.add_argument("--category", required=True)
    bind.add_argument(
        "--from", dest="valid_from", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD"
    )
    bind.add_argument(
        "--to", dest="valid_to", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD"
    )
    bind.add_argument("--source", required=True, help="permit number or document that binds it")
    bind.set_defaults(run=operations.limits_bind)


def _simulator_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enterprises", type=int, default=3, help="number of enterprises")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between real-time frames")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same traffic)")
    p.add_argument(
        "--from",
        dest="start",
        type=datetime.fromisoformat,
        default=None,
        help="start time (ISO 8601); default now",
    )
    p.add_argument("--duration", type=_duration, default=None, help="e.g. 90s, 15m, 2h, 1d")
    p.add_argument("--fast", action="store_true", help="publish as fast as possible")
    p.add_argument("--json-fraction", type=float, default=0.0)
    p.add_argument("--corrupt-rate", type=float, default=0.002)
    p.add_argument(
        "--exceedance-rate",
        type=float,
        default=0.25,
        metavar="PER_DAY",
        help="exceedance episodes per outlet per day (default 0.25)",
    )
    p.add_argument(
        "--write-registry",
        type=Path,
        default=None,
        help="write the simulated enterprises as a registry JSON file",
    )
    for how, default in (("refuse", 0.05), ("partial", 0.1), ("silent", 0.05)):
        p.add_argument(
            f"--recall-{how}-rate",
            type=float,
            default=default,
            metavar="SHARE",
            help=f"share of history queries the loggers {how.replace('silent', 'ignore')}"
            f"{' (answer in part)' if how == 'partial' else ''} (default {default})",
        )


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h)") from None


if __name__ == "__main__":
    raise SystemExit(main())
