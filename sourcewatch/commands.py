"""What each ``sourcewatch`` sub-command does (the parser is in :mod:`sourcewatch.cli`).

Every command imports what it needs when it runs, so ``sourcewatch --help`` stays fast and
one process loads only its own app.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "alerts",
    "api",
    "completeness",
    "db_credentials",
    "db_roles",
    "decode",
    "devices_acl",
    "dump",
    "evidence",
    "gateway",
    "ingest",
    "keys_generate",
    "ledger_sign",
    "migrate",
    "registry_import",
    "simulate",
    "staff_add",
    "staff_revoke",
    "staff_token",
    "subscriptions_add",
    "subscriptions_list",
    "subscriptions_remove",
    "up",
    "verify",
]

log = logging.getLogger("sourcewatch")


def migrate(args: argparse.Namespace) -> int:
    from schemas.core.db import connect
    from schemas.core.migrate import MigrationError, migrate
    from schemas.core.settings import get_settings
    from schemas.reference import load_reference_data

    settings = get_settings()
    try:
        with connect(
            settings.database, application_name="sourcewatch.migrate", autocommit=True
        ) as conn:
            done = migrate(conn)
            counts = load_reference_data(conn)
    except MigrationError as exc:
        log.error("%s", exc)
        return 1
    log.info("applied %d migration(s); code tables: %s", len(done), counts)
    return 0


def db_roles(args: argparse.Namespace) -> int:
    import os

    import psycopg

    from schemas.core.db import connect
    from schemas.core.roles import PROCESSES, RoleError, apply_roles
    from schemas.core.settings import get_settings

    passwords: dict[str, str] = {}
    for item in args.password_env:
        process, _, variable = str(item).partition("=")
        if process not in PROCESSES or not variable:
            log.error(
                "--password-env %s: give PROCESS=VARIABLE, PROCESS one of %s", item, PROCESSES
            )
            return 2
        if not os.environ.get(variable, "").strip():
            log.error("%s (the password of %s) is not set", variable, process)
            return 1
        passwords[process] = os.environ[variable].strip()
    url = get_settings().database
    try:
        with connect(url, application_name="sourcewatch.db", autocommit=True) as conn:
            names = apply_roles(conn, args.prefix, passwords)
    except RoleError as exc:
        log.error("%s", exc)
        return 1
    except psycopg.Error as exc:  # e.g. not the owner, or no CREATEROLE
        log.error("cannot set up the roles: %s", str(exc).strip())
        return 1
    print(  # noqa: T201
        f"roles {', '.join(names)}: privileges granted"
        + (f"; password set for {', '.join(sorted(passwords))}" if passwords else "")
    )
    return 0


def db_credentials(args: argparse.Namespace) -> int:
    from schemas.core.roles import RoleError
    from sourcewatch.db_credentials import write_db_credentials

    try:
        done = write_db_credentials(
            args.out, host=args.host, port=args.port, database=args.database, prefix=args.prefix
        )
    except (OSError, RoleError) as exc:
        log.error("%s", exc)
        return 1
    print(  # noqa: T201
        f"wrote {args.out}/postgres.env, migrate.env, api.env, ingest.env, alerts.env (0600); "
        f"generated: {', '.join(done.generated) or 'none'}; kept: {', '.join(done.kept) or 'none'}"
    )
    return 0


def registry_import(args: argparse.Namespace) -> int:
    from schemas.core.db import connect
    from schemas.core.settings import get_settings
    from schemas.registry.entries import RegistryError, import_registry
    from schemas.registry.files import parse_registry_file

    try:
        parsed = parse_registry_file(args.file)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if parsed.errors:
        for e in parsed.errors:
            print(f"error: {e}", file=sys.stderr)  # noqa: T201
        print(f"{len(parsed.errors)} error(s); nothing imported", file=sys.stderr)  # noqa: T201
        return 1
    rows = len(parsed.enterprises) + sum(len(e.outlets) for e in parsed.enterprises)
    try:
        with (
            connect(get_settings().database, application_name="sourcewatch.registry") as conn,
            _progress_bar(args, total=rows, unit="row", desc="import") as bar,
        ):
            report = import_registry(conn, parsed.enterprises, progress=bar.update)
            conn.commit()
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(report.summary())  # noqa: T201
    return 0


@contextmanager
def _progress_bar(
    args: argparse.Namespace, *, total: float | None, unit: str, desc: str, shown: bool = True
) -> Iterator[Any]:
    """A tqdm bar on stderr (log lines are written above it): with ``--progress``, or by default
    when stderr is a terminal; otherwise (``--no-progress``, a pipe, a log file, or not
    ``shown``) one that shows nothing."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    wanted = args.progress if getattr(args, "progress", None) is not None else sys.stderr.isatty()
    with tqdm(
        total=total,
        unit=unit,
        desc=desc,
        file=sys.stderr,
        disable=not (wanted and shown),
        dynamic_ncols=True,
    ) as bar:
        if bar.disable:
            yield bar
            return
        with logging_redirect_tqdm():
            yield bar


def decode(args: argparse.Namespace) -> int:
    from ingest.decode import run_decode
    from ingest.hj212 import CRCPolicy

    return run_decode(sys.stdin.buffer, sys.stdout, CRCPolicy(args.crc))


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def ingest(args: argparse.Namespace) -> int:
    from ingest.service import run_ingest
    from ingest.settings import IngestSettings

    return run_ingest(IngestSettings.from_environ(), stop_on_signals())


def gateway(args: argparse.Namespace) -> int:
    from ingest.settings import IngestSettings
    from ingest.tcp import run_gateway

    return run_gateway(IngestSettings.from_environ(), stop_on_signals())


def api(args: argparse.Namespace) -> int:
    from api.server import serve
    from api.settings import ApiSettings
    from sourcewatch.logs import logging_config

    settings = ApiSettings.from_environ()
    serve(settings, log_config=logging_config(settings.log_level, settings.log_format))
    return 0


def alerts(args: argparse.Namespace) -> int:
    from alerts.process import run_alerts
    from alerts.settings import AlertsSettings

    return run_alerts(AlertsSettings.from_environ(), stop_on_signals())


def subscriptions_add(args: argparse.Namespace) -> int:
    from schemas.core.db import connect
    from schemas.core.settings import get_settings
    from schemas.subscriptions import SubscriptionError, add_subscription

    settings = get_settings()
    try:
        with connect(
            settings.database, application_name="sourcewatch.cli", autocommit=True
        ) as conn:
            sid = add_subscription(
                conn,
                subscriber=args.subscriber,
                channel=args.channel,
                target=args.target,
                secret=args.secret,
                enterprise_ids=args.enterprise_ids,
                districts=args.districts,
                pollutants=args.pollutants,
                kinds=args.kinds,
                min_severity=args.min_severity,
                max_per_hour=args.max_per_hour,
                digest_after=args.digest_after,
                cases=args.cases,
                system_alerts=args.system_alerts,
                system_alert_kinds=args.system_alert_kinds,
                actor=_cli_actor(),
                allow_private_targets=settings.notify_allow_private_targets,
            )
    except SubscriptionError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"subscription {sid}")  # noqa: T201
    return 0


def subscriptions_list(args: argparse.Namespace) -> int:
    from schemas.core.db import connect
    from schemas.core.settings import get_settings
    from schemas.subscriptions import list_subscriptions, shown_target

    with connect(get_settings().database, application_name="sourcewatch.cli") as conn:
        for s in list_subscriptions(conn):
            target = shown_target(s.channel, s.target)  # a robot URL's key is a secret
            print(f"{s.id}\t{s.subscriber}\t{s.channel}\t{s.min_severity}\t{target}")  # noqa: T201
    return 0


def subscriptions_remove(args: argparse.Namespace) -> int:
    from schemas.core.db import connect
    from schemas.core.settings import get_settings
    from schemas.subscriptions import SubscriptionError, deactivate_subscription

    try:
        with connect(
            get_settings().database, application_name="sourcewatch.cli", autocommit=True
        ) as conn:
            cancelled = deactivate_subscription(conn, args.subscription_id, actor=_cli_actor())
    except SubscriptionError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"deactivated; {cancelled} pending notification(s) cancelled")  # noqa: T201
    return 0


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _expiry(days: int | None) -> timedelta:
    """How long a new token lives: ``--expires``, else SOURCEWATCH_STAFF_TOKEN_DAYS."""
    from schemas.core.settings import get_settings

    if days is None:
        days = get_settings().staff_token_days
    if days < 1:
        raise SystemExit("error: --expires must be at least 1 day")
    return timedelta(days=days)


def staff_add(args: argparse.Namespace) -> int:
    from schemas.staff.accounts import add_staff_user, issue_token

    with _cli_connection() as conn:
        add_staff_user(conn, args.username, args.roles, args.name, actor=_cli_actor())
        token = issue_token(
            conn,
            args.username,
            actor=_cli_actor(),
            label=args.label,
            expires_at=_expiry(args.expires),
        )
    print(token)  # noqa: T201  (shown once; only its digest is stored)
    return 0


def staff_token(args: argparse.Namespace) -> int:
    from schemas.staff.accounts import issue_token

    with _cli_connection() as conn:
        try:
            token = issue_token(
                conn,
                args.username,
                actor=_cli_actor(),
                label=args.label,
                expires_at=_expiry(args.expires),
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    print(token)  # noqa: T201  (shown once; only its digest is stored)
    return 0


def staff_revoke(args: argparse.Namespace) -> int:
    from schemas.staff.accounts import revoke_token, revoke_user_tokens

    with _cli_connection() as conn:
        if args.user is not None:
            count = revoke_user_tokens(conn, args.user, actor=_cli_actor())
            print(f"revoked {count} token(s) of {args.user}")  # noqa: T201
            return 0
        token = sys.stdin.readline().strip() if args.token == "-" else args.token
        if not revoke_token(conn, token, actor=_cli_actor()):
            print("error: no live token matches", file=sys.stderr)  # noqa: T201
            return 1
    print("revoked")  # noqa: T201
    return 0


def staff_password(args: argparse.Namespace) -> int:
    from schemas.staff.passwords import set_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass(f"new console password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)  # noqa: T201
            return 1
    with _cli_connection() as conn:
        try:
            set_password(conn, args.username, password, actor=_cli_actor())
        except (LookupError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)  # noqa: T201
            return 1
    print(f"password set for {args.username}")  # noqa: T201
    return 0


def _cli_connection() -> Any:
    from schemas.core.db import connect
    from schemas.core.settings import get_settings

    return connect(get_settings().database, application_name="sourcewatch.cli", autocommit=True)


def up(args: argparse.Namespace) -> int:
    from sourcewatch.embedded import EmbeddedServerError
    from sourcewatch.settings import AllSettings
    from sourcewatch.up import run_up

    try:
        return run_up(
            AllSettings.from_environ(),
            stop_on_signals(),
            enterprises=args.enterprises,
            seed=args.seed,
            data_dir=args.data,
            broker=args.broker,
            history=timedelta(seconds=args.history),
        )
    except EmbeddedServerError as exc:
        log.error("%s", exc)
        return 1


def simulate(args: argparse.Namespace) -> int:
    from ingest.simulation import SimulatorOptions, run_simulator
    from ingest.simulation.publisher import fast_duration_s
    from schemas.core.settings import get_settings

    options = SimulatorOptions(
        enterprises=args.enterprises,
        interval_s=args.interval,
        seed=args.seed,
        start=args.start,
        duration_s=args.duration,
        realtime=not args.fast,
        json_fraction=args.json_fraction,
        corrupt_rate=args.corrupt_rate,
        exceedance_rate=args.exceedance_rate,
        write_registry=args.write_registry,
        recall_refuse_rate=args.recall_refuse_rate,
        recall_partial_rate=args.recall_partial_rate,
        recall_silent_rate=args.recall_silent_rate,
    )
    span = fast_duration_s(options) if args.fast else args.duration  # None: runs forever
    total = None if span is None else int(span)
    with _progress_bar(args, total=total, unit="s", desc="simulate", shown=bool(total)) as bar:
        return run_simulator(
            options, get_settings().broker, stop=stop_on_signals(), progress=bar.update
        )


def completeness(args: argparse.Namespace) -> int:
    from datetime import datetime, time, timedelta

    from schemas.completeness.gaps import gaps
    from schemas.completeness.rates import rates
    from schemas.core.db import connect
    from schemas.core.localtime import LOCAL_TZ
    from schemas.core.settings import get_settings

    last = args.last or datetime.now(LOCAL_TZ).date()
    first = args.first or last - timedelta(days=6)
    if first > last:
        print("error: --from is after --to", file=sys.stderr)  # noqa: T201
        return 2
    with connect(get_settings().database, application_name="sourcewatch.completeness") as conn:
        row = conn.execute("SELECT id FROM outlets WHERE mn = %s", (args.mn,)).fetchone()
        if row is None:
            print(f"error: no outlet with MN {args.mn}", file=sys.stderr)  # noqa: T201
            return 1
        found = [r for r in rates(conn, row[0], args.period, first, last) if args.all or r.headline]
        holes = []
        if args.gaps:
            since = datetime.combine(first, time(), LOCAL_TZ)
            holes = gaps(conn, row[0], since, since + timedelta(days=(last - first).days + 1))

    def pct(value: object) -> str:
        return "–" if value is None else f"{float(value) * 100:.1f} %"  # type: ignore[arg-type]

    print(  # noqa: T201
        f"{'period':<10} {'pollutant':<9} {'kind':<4} {'expected':>8} {'received':>8} "
        f"{'valid':>8} {'传输率':>7} {'有效率':>7} {'传输有效率':>7}  target"
    )
    for r in found:
        start = r.period_start.astimezone(LOCAL_TZ).date()
        period = {"day": start.isoformat(), "month": f"{start:%Y-%m}"}.get(
            args.period, f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        )
        met = "–" if r.meets_target is None else ("met" if r.meets_target else "NOT met")
        print(  # noqa: T201
            f"{period:<10} {r.pollutant or 'all':<9} {r.kind:<4} {r.expected:>8} {r.received:>8} "
            f"{r.valid:>8} {pct(r.transmission_rate):>9} {pct(r.validity_rate):>9} "
            f"{pct(r.transmission_validity_rate):>9}  {met} ({pct(r.target)}"
            f"{'' if r.rules_confirmed else ', unconfirmed'})"
        )
    if not found:
        print("nothing expected in these days (no data from this outlet yet)")  # noqa: T201
    for g in holes:
        print(  # noqa: T201
            f"gap {g.hour_start.astimezone(LOCAL_TZ):%Y-%m-%d %H:00} {g.kind:<4} "
            f"{g.received}/{g.expected} received, short: {', '.join(g.pollutants)}"
        )
    return 0


def evidence(args: argparse.Namespace) -> int:
    from schemas.cases.errors import CaseError
    from schemas.cases.evidence import build_evidence
    from schemas.core.db import connect
    from schemas.core.settings import get_settings

    try:
        with connect(get_settings().database, application_name="sourcewatch.evidence") as conn:
            manifest = build_evidence(conn, args.case_id, args.output)
    except CaseError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"{args.output}\n{manifest.summary()}")  # noqa: T201
    return 0


def dump(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from api.dumps import DumpError, dump_day
    from api.settings import ApiSettings
    from schemas.core.db import connect
    from schemas.core.localtime import LOCAL_TZ

    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)  # noqa: T201
        return 2
    settings = ApiSettings.from_environ()
    last = args.day or datetime.now(LOCAL_TZ).date() - timedelta(days=1)
    out = args.out or settings.dump_dir
    files = 0

    def file_written(n: int) -> None:
        nonlocal files
        files += n
        bar.set_postfix(files=files)

    with (
        connect(settings.database, application_name="sourcewatch.dump") as conn,
        _progress_bar(args, total=args.days, unit="day", desc="dump") as bar,
    ):
        for back in range(args.days - 1, -1, -1):
            try:
                manifest = dump_day(conn, last - timedelta(days=back), out, progress=file_written)
            except (DumpError, OSError) as exc:
                print(f"error: {exc}", file=sys.stderr)  # noqa: T201
                return 1
            bar.update(1)
            bar.write(manifest.summary(), file=sys.stdout)  # above the bar, not through it
    return 0


def devices_acl(args: argparse.Namespace) -> int:
    from schemas.core.db import connect
    from schemas.core.settings import get_settings
    from sourcewatch.devices import active_mns, read_credentials, write_broker_files

    try:
        given = read_credentials(args.from_file) if args.from_file else {}
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    with connect(get_settings().database, application_name="sourcewatch.devices") as conn:
        mns = active_mns(conn)
    try:
        done = write_broker_files(
            args.out, mns, given, broker_host=args.broker_host, broker_port=args.broker_port
        )
    except ValueError as exc:
        log.error("%s", exc)
        return 1
    for mn in done.unknown_in_file:
        log.warning("%s is in %s but is not an active outlet: left out", mn, args.from_file)
    print(  # noqa: T201
        f"{done.devices} data logger(s): {done.from_file} password(s) from file, "
        f"{done.generated} generated; service users: {', '.join(done.service_passwords)}"
    )
    print(  # noqa: T201
        f"wrote {args.out}/passwd, acl (mount in the broker's config folder),"
        " credentials.csv (0600, hand to the enterprises), services.env,"
        " ingest.env, alerts.env (0600)"
    )
    return 0


def keys_generate(args: argparse.Namespace) -> int:
    from alerts.settings import AlertsSettings
    from schemas.disclosure.keys import (
        SigningKeyError,
        default_key_path,
        generate_key,
        load_private_key,
        public_key_pem,
    )

    path = args.out or default_key_path(AlertsSettings.from_environ().signing_key_file)
    try:
        kid = generate_key(path)
        pem = public_key_pem(load_private_key(path))
    except SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"key id {kid}\nprivate key {path} (0600: keep it secret, back it up)")  # noqa: T201
    print(pem, end="")  # noqa: T201
    return 0


def ledger_sign(args: argparse.Namespace) -> int:
    from alerts.settings import AlertsSettings
    from schemas.core.db import connect
    from schemas.disclosure.keys import SigningKeyError, default_key_path, load_private_key
    from schemas.disclosure.ledger import LedgerError, yesterday
    from schemas.disclosure.pins import PinError
    from schemas.disclosure.signing import sign_with_key_file

    settings = AlertsSettings.from_environ()
    through = args.through or yesterday()
    key_file = default_key_path(settings.signing_key_file)
    try:
        load_private_key(key_file)  # a missing key is reported before connecting
        with connect(
            settings.database, application_name="sourcewatch.ledger", autocommit=True
        ) as conn:
            made = sign_with_key_file(conn, key_file, through=through)
    except (SigningKeyError, LedgerError, PinError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    for root in made:
        print(  # noqa: T201
            f"{root.day}\t{root.entry_count} entries\tlast {root.last_seq}\t"
            f"{root.root_hash.hex()}\tkey {root.key_id}"
        )
    print(f"{len(made)} root(s) signed through {through}")  # noqa: T201
    return 0


def verify(args: argparse.Namespace) -> int:
    from psycopg import IsolationLevel

    from schemas.core.db import connect
    from schemas.core.settings import get_settings
    from schemas.disclosure.keys import SigningKeyError, load_public_keys
    from schemas.disclosure.pins import PinError, read_pins
    from schemas.disclosure.verification import verify as verify_log

    try:
        trusted = load_public_keys(args.public_keys) if args.public_keys else None
        pinned = read_pins(args.pinned)
    except (SigningKeyError, PinError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    if args.source is not None:
        return _verify_remote(args.source, trusted, pinned)
    with connect(get_settings().database, application_name="sourcewatch.verify") as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ  # one snapshot for every check
        conn.read_only = True
        report = verify_log(conn, trusted, pinned=pinned)
        conn.rollback()
    print(report.summary())  # noqa: T201
    return 0 if report.ok else 1


def _verify_remote(source: str, trusted: Any, pinned: Any) -> int:
    from sourcewatch.remote_verify import RemoteError, http_fetch, verify_remote

    if not trusted:
        print(  # noqa: T201
            "error: --from needs --public-key: the key you saved (the service's own list of "
            "keys proves nothing about the service)",
            file=sys.stderr,
        )
        return 2
    try:
        report = verify_remote(http_fetch(source), trusted, pinned=pinned)
    except RemoteError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(report.summary())  # noqa: T201
    return 0 if report.ok else 1
