"""``sourcewatch`` — one command with a sub-command per process or operator task."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from sourcewatch import commands

__all__ = ["main"]


log = logging.getLogger("sourcewatch")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from schemas.settings import get_settings

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.run(args)
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sourcewatch", description=__doc__)
    sub = p.add_subparsers(metavar="COMMAND")

    m = sub.add_parser("migrate", help="apply database migrations and load the code tables")
    m.set_defaults(run=commands.migrate)

    reg = sub.add_parser("registry", help="enterprise and outlet registry").add_subparsers(
        metavar="ACTION"
    )
    imp = reg.add_parser("import", help="load enterprises and outlets from a CSV or JSON file")
    imp.add_argument("file", type=Path)
    imp.set_defaults(run=commands.registry_import)

    hj = sub.add_parser("hj212", help="HJ 212 tools").add_subparsers(metavar="ACTION")
    dec = hj.add_parser("decode", help="decode frames from stdin, one JSON object per frame")
    dec.add_argument("--crc", choices=["strict", "lenient", "alt"], default="strict")
    dec.set_defaults(run=commands.decode)

    ing = sub.add_parser("ingest", help="run an MQTT ingest worker")
    ing.set_defaults(run=commands.ingest)

    gw = sub.add_parser("gateway", help="run the HJ 212 TCP gateway for legacy data loggers")
    gw.set_defaults(run=commands.gateway)

    api = sub.add_parser("api", help="serve the HTTP API (public, portals, staff)")
    api.set_defaults(run=commands.api)

    al = sub.add_parser("alerts", help="run the evaluator and the notification dispatcher")
    al.set_defaults(run=commands.alerts)

    subs = sub.add_parser("subscriptions", help="who is notified of what").add_subparsers(
        metavar="ACTION"
    )
    add = subs.add_parser("add", help="subscribe someone to alerts")
    add.add_argument("--subscriber", required=True, help="staff user name or e-mail")
    add.add_argument("--channel", required=True,
                     choices=["webhook", "email", "mqtt", "wecom", "dingtalk"])  # fmt: skip
    add.add_argument("--target", required=True, help="URL, e-mail address or MQTT topic")
    add.add_argument("--secret", default=None, help="webhook HMAC key or robot sign secret")
    add.add_argument("--kind", dest="kinds", action="append", default=[],
                     choices=["exceedance", "outage", "fault", "pattern"])  # fmt: skip
    add.add_argument("--pollutant", dest="pollutants", action="append", default=[])
    add.add_argument("--district", dest="districts", action="append", default=[])
    add.add_argument("--enterprise-id", dest="enterprise_ids", action="append", type=int,
                     default=[])  # fmt: skip
    add.add_argument("--min-severity", default="info",
                     choices=["info", "warning", "major", "critical"])  # fmt: skip
    add.add_argument("--max-per-hour", type=int, default=30)
    add.add_argument("--digest-after", type=int, default=None)
    add.set_defaults(run=commands.subscriptions_add)
    ls = subs.add_parser("list", help="list active subscriptions")
    ls.set_defaults(run=commands.subscriptions_list)
    rm = subs.add_parser("remove", help="deactivate a subscription")
    rm.add_argument("subscription_id", type=int)
    rm.set_defaults(run=commands.subscriptions_remove)

    staff = sub.add_parser("staff", help="staff accounts and API tokens").add_subparsers(
        metavar="ACTION"
    )
    sa = staff.add_parser("add", help="create or update a staff user and print a new token",
                          epilog="example: sourcewatch staff add li.na --role editor "
                                 "--name 李娜 --expires 90")  # fmt: skip
    sa.add_argument("username")
    sa.add_argument("--role", dest="roles", action="append", required=True,
                    choices=["viewer", "editor", "enforcement", "admin"])  # fmt: skip
    sa.add_argument("--name", default=None, help="display name")
    sa.add_argument("--label", default=None, help="what the token is for")
    sa.add_argument("--expires", type=int, default=None, metavar="DAYS",
                    help="the token expires after this many days (default: never)")  # fmt: skip
    sa.set_defaults(run=commands.staff_add)
    st = staff.add_parser("token", help="print a new token for an existing staff user")
    st.add_argument("username")
    st.add_argument("--label", default=None, help="what the token is for")
    st.add_argument("--expires", type=int, default=None, metavar="DAYS",
                    help="the token expires after this many days (default: never)")  # fmt: skip
    st.set_defaults(run=commands.staff_token)
    sr = staff.add_parser("revoke", help="revoke a token, or every token of a user")
    who = sr.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", default=None, help="the token to revoke (read from stdin if '-')")
    who.add_argument("--user", default=None, help="revoke every live token of this user")
    sr.set_defaults(run=commands.staff_revoke)

    dev = sub.add_parser("devices", help="data logger broker credentials").add_subparsers(
        metavar="ACTION"
    )
    acl = dev.add_parser("acl", help="write the broker passwd/acl files and device credentials")
    acl.add_argument("--out", type=Path, required=True, metavar="DIR")
    acl.add_argument("--from-file", type=Path, default=None, metavar="CSV",
                     help="mn,password rows to use instead of generated passwords")  # fmt: skip
    acl.add_argument("--broker-host", default="mosquitto", help="host in services.env URLs")
    acl.add_argument("--broker-port", type=int, default=1883)
    acl.set_defaults(run=commands.devices_acl)

    up = sub.add_parser("up", help="migrate, register simulated enterprises, ingest their data")
    up.add_argument("--enterprises", type=int, default=5)
    up.add_argument("--seed", type=int, default=1)
    up.add_argument("--data", type=Path, default=Path("var"), metavar="DIR",
                    help="where the private PostgreSQL cluster is kept (default: ./var)")  # fmt: skip
    up.set_defaults(run=commands.up)

    sim = sub.add_parser("simulate", help="publish simulated HJ 212 traffic to the broker")
    _simulator_arguments(sim)
    sim.set_defaults(run=commands.simulate)

    ev = sub.add_parser("evidence", help="write the evidence bundle (ZIP) of a case")
    ev.add_argument("case_id", type=int, metavar="CASE_ID")
    ev.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    ev.set_defaults(run=commands.evidence)

    keys = sub.add_parser("keys", help="signing keys of the publication log").add_subparsers(
        metavar="ACTION"
    )
    kg = keys.add_parser("generate", help="write a new Ed25519 signing key (PEM, 0600)")
    kg.add_argument("--out", type=Path, default=None, metavar="PATH",
                    help="default: SOURCEWATCH_SIGNING_KEY_FILE or var/signing-key.pem")  # fmt: skip
    kg.set_defaults(run=commands.keys_generate)
    ledger = sub.add_parser("ledger", help="the publication log").add_subparsers(metavar="ACTION")
    lsg = ledger.add_parser("sign", help="sign the daily roots of the publication log")
    lsg.add_argument("--through", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                     help="last day to sign (Asia/Shanghai; default yesterday)")  # fmt: skip
    lsg.set_defaults(run=commands.ledger_sign)
    vf = sub.add_parser("verify", help="recompute the publication log, its roots and signatures")
    vf.add_argument("--public-key", dest="public_keys", type=Path, action="append", default=[],
                    metavar="FILE", help="trust only these public keys (PEM); repeatable")  # fmt: skip
    vf.set_defaults(run=commands.verify)

    du = sub.add_parser("dump", help="write the daily bulk dump (CSV, Parquet, manifest)")
    du.add_argument("--day", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                    help="local (Asia/Shanghai) day; default yesterday")  # fmt: skip
    du.add_argument("--days", type=int, default=1, metavar="N",
                    help="dump N days: --day and the N-1 days before it")  # fmt: skip
    du.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="default: SOURCEWATCH_DUMP_DIR (var/dumps)")  # fmt: skip
    du.set_defaults(run=commands.dump)
    return p


def _simulator_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--enterprises", type=int, default=3, help="number of enterprises")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between real-time frames")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same traffic)")
    p.add_argument("--from", dest="start", type=datetime.fromisoformat, default=None,
                   help="start time (ISO 8601); default now")  # fmt: skip
    p.add_argument("--duration", type=_duration, default=None, help="e.g. 90s, 15m, 2h, 1d")
    p.add_argument("--fast", action="store_true", help="publish as fast as possible")
    p.add_argument("--json-fraction", type=float, default=0.0)
    p.add_argument("--corrupt-rate", type=float, default=0.002)
    p.add_argument("--write-registry", type=Path, default=None,
                   help="write the simulated enterprises as a registry JSON file")  # fmt: skip


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
