"""The shipped deployment files (compose, Kubernetes) and ``sourcewatch devices acl``."""

from __future__ import annotations

import csv
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import kubernetes_validate
import paho.mqtt.client as mqtt
import psycopg
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from schemas.core.roles import PROCESSES
from sourcewatch.cli import main
from sourcewatch.db_credentials import PASSWORD_VARIABLES
from sourcewatch.devices import ACL, hash_password, new_password, verify_password
from sourcewatch.embedded import free_port, wait_for_port
from sourcewatch.embedded_mqtt import BROKER_LIMITS
from sourcewatch.settings import AllSettings
from tests.fixtures.broker import private_production_conf, self_signed_certificate
from tests.fixtures.registry import add_outlet

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SETTINGS = {f"SOURCEWATCH_{name.upper()}" for name in AllSettings.model_fields}
APP_SERVICES = {"migrate", "ingest", "gateway", "alerts", "api"}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def env_keys(service: dict[str, Any]) -> set[str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {item.split("=", 1)[0] for item in env}
    return set(env)


# --- compose ---------------------------------------------------------------------------------


def test_env_example_lists_exactly_the_settings() -> None:
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    keys = {line.split("=", 1)[0] for line in text.splitlines() if line.startswith("SOURCEWATCH_")}
    assert keys == SETTINGS


def test_compose_services_and_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == APP_SERVICES | {"timescaledb", "mosquitto"}
    for name in APP_SERVICES:
        keys = env_keys(services[name])
        assert keys <= SETTINGS, (name, keys - SETTINGS)
        assert {e["path"] for e in services[name]["env_file"]} >= {".env"}
    assert services["timescaledb"]["image"] == "timescale/timescaledb:latest-pg16"
    assert "pg_isready" in " ".join(services["timescaledb"]["healthcheck"]["test"])
    mounts = " ".join(services["mosquitto"]["volumes"])
    for target in ("mosquitto.conf", "/mosquitto/config/passwd", "/mosquitto/config/acl"):
        assert target in mounts
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    ingest = services["ingest"]
    assert ingest["deploy"]["replicas"] == 2
    assert ingest["environment"]["SOURCEWATCH_MQTT_SHARED_GROUP"] == "ingest"
    assert "SOURCEWATCH_MQTT_CLIENT_ID=ingest-$$HOSTNAME" in " ".join(ingest["entrypoint"])
    for name in APP_SERVICES - {"migrate"}:
        cond = services[name]["depends_on"]["migrate"]["condition"]
        assert cond == "service_completed_successfully"
    assert services["api"]["environment"]["SOURCEWATCH_API_HOST"] == "0.0.0.0"
    assert "8000:8000" in services["api"]["ports"]
    assert "9212:9212" in services["gateway"]["ports"]


# Which database role each app service connects with (schemas/core/roles.py).
DB_ROLE = {"ingest": "ingest", "gateway": "ingest", "alerts": "alerts", "api": "api"}


def test_each_compose_service_connects_with_its_own_database_role() -> None:
    """Before issue 15 every service got the superuser's URL (and the superuser's password
    through .env): one SQL injection away from TRUNCATE publication_log."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    for name, process in DB_ROLE.items():
        service = services[name]
        assert "SOURCEWATCH_DATABASE_URL" not in env_keys(service), name
        files = [e["path"] for e in service["env_file"]]
        assert f"db/{process}.env" in files and "db/migrate.env" not in files, name
    migrate = services["migrate"]
    assert "db/migrate.env" in [e["path"] for e in migrate["env_file"]]
    script = " ".join(migrate["entrypoint"])
    assert "sourcewatch migrate && exec sourcewatch db roles" in script
    for process, variable in PASSWORD_VARIABLES.items():
        assert f"--password-env {process}={variable}" in script
    database = services["timescaledb"]
    assert [e["path"] for e in database["env_file"]] == ["db/postgres.env"]
    assert "POSTGRES_PASSWORD" not in (database.get("environment") or {})


def test_db_credentials_give_each_process_its_own_login(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "db"
    assert main(["db", "credentials", "--out", str(out)]) == 0
    assert "generated: POSTGRES_PASSWORD, API_DB_PASSWORD" in capsys.readouterr().out
    env = {
        f.stem: dict(
            line.split("=", 1)
            for line in f.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        for f in out.glob("*.env")
    }
    assert set(env) == {"postgres", "migrate", *PROCESSES}
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    superuser = env["postgres"]["POSTGRES_PASSWORD"]
    owner = urlsplit(env["migrate"]["SOURCEWATCH_DATABASE_URL"])
    assert (owner.username, owner.password, owner.hostname) == (
        "postgres",
        superuser,
        "timescaledb",
    )
    passwords = set()
    for process, variable in PASSWORD_VARIABLES.items():
        url = urlsplit(env[process]["SOURCEWATCH_DATABASE_URL"])
        assert url.username == f"sourcewatch_{process}" and url.path == "/sourcewatch"
        assert url.password == env["migrate"][variable] and len(url.password) >= 24
        assert superuser not in env[process]["SOURCEWATCH_DATABASE_URL"]
        passwords.add(url.password)
    assert len(passwords) == 3
    before = {f.name: f.read_text() for f in out.iterdir()}
    assert main(["db", "credentials", "--out", str(out)]) == 0  # again: every password kept
    assert "generated: none" in capsys.readouterr().out
    assert {f.name: f.read_text() for f in out.iterdir()} == before


def test_compose_emqx_override() -> None:
    override = yaml.safe_load((DEPLOY / "compose.emqx.yaml").read_text(encoding="utf-8"))
    assert override["services"]["mosquitto"]["image"].startswith("emqx/emqx:")
    assert "Business Source License" in (DEPLOY / "compose.emqx.yaml").read_text()


def _emqx_bytes(value: str) -> int:
    """An EMQX byte size ("256KB", "1MB"; KB = 1024 bytes)."""
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    for unit, size in units.items():
        if value.endswith(unit):
            return int(value.removesuffix(unit)) * size
    return int(value.removesuffix("B"))


def test_the_emqx_override_has_the_broker_limits() -> None:
    """EMQX 5 names for Mosquitto's limits (BROKER_LIMITS): the same packet size, in-flight
    window and queue length; for max_queued_bytes, which EMQX lacks, a per-client byte and
    message rate on the devices' listener that still lets a packet of the largest size in."""
    env = yaml.safe_load((DEPLOY / "compose.emqx.yaml").read_text(encoding="utf-8"))["services"][
        "mosquitto"
    ]["environment"]
    limits = dict(line.split() for line in _directives(BROKER_LIMITS))
    assert _emqx_bytes(env["EMQX_MQTT__MAX_PACKET_SIZE"]) == int(limits["max_packet_size"])
    assert env["EMQX_MQTT__MAX_INFLIGHT"] == limits["max_inflight_messages"]
    assert env["EMQX_MQTT__MAX_MQUEUE_LEN"] == limits["max_queued_messages"]
    bytes_rate, per = env["EMQX_LISTENERS__SSL__DEFAULT__BYTES_RATE"].split("/")
    assert per == "s"
    assert int(limits["max_packet_size"]) <= _emqx_bytes(bytes_rate) < 10 * (1 << 20)
    messages, per = env["EMQX_LISTENERS__SSL__DEFAULT__MESSAGES_RATE"].split("/")
    assert per == "s" and 0 < int(messages) <= 1000


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "USER 10001" in text and "/healthz" in text
    assert 'ENTRYPOINT ["sourcewatch"]' in text and 'CMD ["api"]' in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "var"} <= set(ignored)


# --- Kubernetes ------------------------------------------------------------------------------


def k8s_documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in load_all(path)]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_k8s_workloads() -> None:
    docs = k8s_documents()
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {f"sourcewatch-{n}" for n in ("ingest", "alerts", "api", "gateway")}
    assert [d["kind"] for d in docs].count("Job") == 1
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        for container in spec["template"]["spec"]["containers"]:
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            for var in container.get("env", []):
                assert var["name"] in SETTINGS, (name, var["name"])
    replicas = {
        n.removeprefix("sourcewatch-"): d["spec"]["replicas"] for n, d in deployments.items()
    }
    assert replicas == {"ingest": 2, "alerts": 1, "api": 2, "gateway": 1}

    api = deployments["sourcewatch-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ingest = deployments["sourcewatch-ingest"]["spec"]["template"]["spec"]["containers"][0]
    env = {v["name"]: v for v in ingest["env"]}
    assert (
        env["SOURCEWATCH_MQTT_CLIENT_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    )
    assert env["SOURCEWATCH_MQTT_SHARED_GROUP"]["value"] == "ingest"

    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    gateway = services["sourcewatch-gateway"]["spec"]
    assert gateway["type"] in {"LoadBalancer", "NodePort"}
    assert gateway["ports"][0]["port"] == 9212
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert set(config["data"]) <= SETTINGS


# Set in a workload's own manifest, not in the ConfigMap: logins from the secret, and what
# differs between workloads.
K8S_PER_WORKLOAD = {
    f"SOURCEWATCH_{name}"
    for name in (
        "DATABASE_URL",
        "MQTT_URL",
        "MQTT_CLIENT_ID",
        "MQTT_SHARED_GROUP",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
        "SIGNING_KEY_FILE",
        "API_WORKERS",
        "EVALUATOR_PROCESSES",
    )
}
# Where the ConfigMap departs from the default (deploy/.env.example): listening in a pod, logs
# for a collector, and the broker's queue limit that ingest cannot read from its file there.
K8S_CHOICES = {
    "SOURCEWATCH_API_HOST": "0.0.0.0",
    "SOURCEWATCH_GATEWAY_HOST": "0.0.0.0",
    "SOURCEWATCH_METRICS_HOST": "0.0.0.0",
    "SOURCEWATCH_LOG_FORMAT": "json",
    "SOURCEWATCH_MQTT_MAX_QUEUED_MESSAGES": dict(
        line.split() for line in BROKER_LIMITS.splitlines() if line
    )["max_queued_messages"],
}


def _env_example_defaults() -> dict[str, str]:
    text = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    pairs = [line.split("=", 1) for line in text.splitlines() if line.startswith("SOURCEWATCH_")]
    return {k: "" if v == "None" else v for k, v in pairs}


def test_every_documented_setting_is_in_the_k8s_files() -> None:
    """The ConfigMap listed a third of the settings: the recall, API limit, gateway, case and
    staff settings were missing, so an operator of the Kubernetes deployment did not see them.
    Now every setting of the README and .env.example is in the ConfigMap, with its default
    unless K8S_CHOICES says otherwise, or set in a workload's manifest (compose loads
    .env.example, copied to .env, into every service: test_compose_services_and_settings)."""
    docs = k8s_documents()
    [config] = [
        d["data"] for d in docs if d.get("metadata", {}).get("name") == "sourcewatch-config"
    ]
    workload_env = {
        var["name"]
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
        for container in d["spec"]["template"]["spec"]["containers"]
        for var in container.get("env", [])
        if var["name"].startswith("SOURCEWATCH_")
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(SOURCEWATCH_\w+)` \|", readme, flags=re.MULTILINE))
    assert documented == SETTINGS
    assert sorted(SETTINGS - set(config) - workload_env) == []
    assert workload_env >= K8S_PER_WORKLOAD
    assert sorted(set(config) & K8S_PER_WORKLOAD) == []
    defaults = _env_example_defaults()
    for name, value in config.items():
        assert value == K8S_CHOICES.get(name, defaults[name]), name


def test_each_k8s_workload_connects_with_its_own_database_role() -> None:
    docs = k8s_documents()

    def database_key(container: dict[str, Any]) -> str:
        env = {v["name"]: v for v in container["env"]}
        return str(env["SOURCEWATCH_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"])

    for d in docs:
        if d["kind"] == "Deployment":
            process = DB_ROLE[d["metadata"]["name"].removeprefix("sourcewatch-")]
            [container] = d["spec"]["template"]["spec"]["containers"]
            assert database_key(container) == f"{process.upper()}_DATABASE_URL"
    [job] = [d for d in docs if d["kind"] == "Job"]
    [migrate] = job["spec"]["template"]["spec"]["containers"]
    assert database_key(migrate) == "OWNER_DATABASE_URL"
    assert "exec sourcewatch db roles" in " ".join(migrate["args"])
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    for process, variable in PASSWORD_VARIABLES.items():
        url = urlsplit(secret["stringData"][f"{process.upper()}_DATABASE_URL"])
        assert url.username == f"sourcewatch_{process}"
        assert url.password == secret["stringData"][variable]


# --- devices acl -----------------------------------------------------------------------------


def test_shipped_acl_is_the_generated_one() -> None:
    assert (DEPLOY / "mosquitto" / "acl").read_text(encoding="utf-8") == ACL


def test_hash_matches_mosquitto_passwd() -> None:
    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        passwd = Path(tmp) / "passwd"
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "u", "s3cr:et"], check=True)
        user, hashed = passwd.read_text().strip().split(":", 1)
    assert user == "u" and hashed.startswith("$7$101$")
    assert verify_password(hashed, "s3cr:et")
    assert not verify_password(hashed, "s3cr:eT")
    assert verify_password(hash_password("x"), "x")


MN_A, MN_B = "0100000000000000000000AA", "0100000000000000000000BB"
MN_OFF = "0100000000000000000000CC"


@pytest.fixture
def broker_files(
    db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    add_outlet(db, MN_A)
    add_outlet(db, MN_B)
    add_outlet(db, MN_OFF)
    db.execute("UPDATE outlets SET active = false WHERE mn = %s", (MN_OFF,))
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    with tempfile.TemporaryDirectory() as tmp:
        given = Path(tmp) / "given.csv"
        given.write_text(f"mn,password\n{MN_A},from-the-file\n")
        out = Path(tmp) / "broker"
        argv = ["devices", "acl", "--out", str(out), "--from-file", str(given)]
        assert main([*argv, "--broker-host", "127.0.0.1"]) == 0
        yield out


class Broker(NamedTuple):
    port: int  # plain MQTT (the internal listener)
    tls_port: int  # MQTT over TLS (the devices' listener)
    ca: Path  # the certificate a client trusts


@pytest.fixture
def generated_broker(broker_files: Path) -> Iterator[Broker]:
    """The project's production mosquitto.conf, with the generated passwd and acl and a
    self-signed certificate, on two private loopback ports."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.skip("Mosquitto is not installed here")
    port, tls_port = free_port(), free_port()
    conf, ca = private_production_conf(broker_files, port, tls_port)
    assert f"listener {tls_port} 127.0.0.1\ncertfile {broker_files}/server.crt" in conf
    (broker_files / "mosquitto.conf").write_text(conf)
    for f in broker_files.iterdir():  # the broker drops root before reading its files
        f.chmod(0o644)
    for folder in (broker_files, broker_files.parent):
        folder.chmod(0o755)
    proc = subprocess.Popen(
        [binary, "-c", str(broker_files / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port, alive=lambda: proc.poll() is None)
        wait_for_port("127.0.0.1", tls_port, alive=lambda: proc.poll() is None)
        yield Broker(port, tls_port, ca)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_devices_acl_writes_the_files(broker_files: Path) -> None:
    with (broker_files / "credentials.csv").open(newline="") as f:
        credentials = dict(csv.reader(f))
    assert credentials.pop("mn") == "password"
    assert set(credentials) == {MN_A, MN_B}  # inactive outlets get no login
    assert credentials[MN_A] == "from-the-file" and len(credentials[MN_B]) >= 20
    for name in ("credentials.csv", "services.env", "ingest.env", "alerts.env"):
        assert stat.S_IMODE((broker_files / name).stat().st_mode) == 0o600, name
    users = dict(line.split(":", 1) for line in (broker_files / "passwd").read_text().splitlines())
    assert set(users) == {MN_A, MN_B, "sourcewatch-ingest", "sourcewatch-alerts"}
    assert verify_password(users[MN_A], "from-the-file")
    assert (broker_files / "acl").read_text() == ACL
    env = (broker_files / "services.env").read_text()
    assert env.count("SOURCEWATCH_MQTT_URL=mqtt://sourcewatch-") == 2


def test_a_generated_device_password_never_starts_like_a_formula(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``credentials.csv`` is opened in spreadsheets: a password starting with ``-`` would
    show as a formula's error (docs/security.md#spreadsheet-formulas)."""
    drawn = iter(["-dash-first", "_fine-one"])
    monkeypatch.setattr("secrets.token_urlsafe", lambda n: next(drawn))
    assert new_password() == "_fine-one"


def service_url(folder: Path, process: str) -> tuple[str, str]:
    line = (folder / f"{process}.env").read_text().strip()
    userinfo = line.split("mqtt://", 1)[1].split("@", 1)[0]
    user, password = userinfo.split(":", 1)
    return user, password


class Session:
    def __init__(self, port: int, user: str, password: str, *, ca: Path | None = None) -> None:
        self.connected: list[bool] = []
        self.disconnected: list[str] = []
        self.received: list[str] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(user, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connected.append(not rc.is_failure)
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnected.append(str(rc))
        self.client.on_message = lambda _c, _u, msg: self.received.append(msg.topic)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait(lambda: bool(self.connected))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait(condition: Any, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_generated_passwords_authenticate_and_acl_holds(
    generated_broker: Broker, broker_files: Path
) -> None:
    with (broker_files / "credentials.csv").open(newline="") as f:
        credentials = dict(list(csv.reader(f))[1:])
    ingest_user, ingest_password = service_url(broker_files, "ingest")
    assert ingest_user == "sourcewatch-ingest"

    wrong = Session(generated_broker.port, MN_A, "not-the-password")
    assert wrong.connected == [False]
    wrong.close()

    worker = Session(generated_broker.port, ingest_user, ingest_password)
    a = Session(generated_broker.port, MN_A, credentials[MN_A])
    b = Session(generated_broker.port, MN_B, credentials[MN_B])
    alerts = Session(generated_broker.port, *service_url(broker_files, "alerts"))
    try:
        assert worker.connected == a.connected == b.connected == alerts.connected == [True]
        worker.client.subscribe("hj212/+/up", qos=1)
        assert wait(lambda: worker.client.want_write() is False)
        import time

        time.sleep(0.3)  # the subscription is in place
        a.client.publish(f"hj212/{MN_B}/up", b"forged", qos=1).wait_for_publish(5)  # refused
        a.client.publish(f"hj212/{MN_A}/up", b"own", qos=1).wait_for_publish(5)
        b.client.publish(f"hj212/{MN_B}/up", b"own", qos=1).wait_for_publish(5)
        assert wait(lambda: len(worker.received) >= 2)
        time.sleep(0.3)
        assert sorted(worker.received) == sorted([f"hj212/{MN_A}/up", f"hj212/{MN_B}/up"])
    finally:
        for s in (worker, a, b, alerts):
            s.close()


def test_devices_connect_over_tls_and_oversized_packets_are_refused(
    generated_broker: Broker, broker_files: Path
) -> None:
    """The production configuration: a logger publishes over TLS (its certificate checked), a
    packet over max_packet_size disconnects its sender and reaches nobody, and the TLS port
    speaks no plain MQTT."""
    with (broker_files / "credentials.csv").open(newline="") as f:
        credentials = dict(list(csv.reader(f))[1:])
    worker = Session(generated_broker.port, *service_url(broker_files, "ingest"))
    logger = Session(generated_broker.tls_port, MN_A, credentials[MN_A], ca=generated_broker.ca)
    try:
        assert worker.connected == logger.connected == [True]
        assert isinstance(logger.client.socket(), ssl.SSLSocket)
        worker.client.subscribe("hj212/+/up", qos=1)
        assert wait(lambda: worker.client.want_write() is False)
        import time

        time.sleep(0.3)  # the subscription is in place
        logger.client.publish(f"hj212/{MN_A}/up", b"x" * 300_000, qos=1)
        assert wait(lambda: bool(logger.disconnected))  # refused: its sender disconnected
        small = Session(generated_broker.tls_port, MN_B, credentials[MN_B], ca=generated_broker.ca)
        small.client.publish(f"hj212/{MN_B}/up", b"y" * 200_000, qos=1).wait_for_publish(5)
        assert wait(lambda: len(worker.received) >= 1)
        time.sleep(0.3)
        assert worker.received == [f"hj212/{MN_B}/up"]  # the 300 kB packet reached nobody
        small.close()
    finally:
        for s in (worker, logger):
            s.close()
    address = ("127.0.0.1", generated_broker.tls_port)
    with tempfile.TemporaryDirectory() as other:  # a client that trusts another certificate
        stranger = ssl.create_default_context(cafile=self_signed_certificate(Path(other)))
        with (
            socket.create_connection(address, timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            stranger.wrap_socket(raw, server_hostname="127.0.0.1")
    with socket.create_connection(address, timeout=5) as raw:  # plain MQTT on the TLS port
        raw.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")  # CONNECT, 3.1.1
        try:
            answer = raw.recv(16)
        except (ConnectionResetError, TimeoutError):
            answer = b""
        assert not answer.startswith(b"\x20")  # no CONNACK


# --- the broker's files ------------------------------------------------------------------------


def _directives(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_every_mosquitto_configuration_has_the_limits() -> None:
    limits = _directives(BROKER_LIMITS)
    assert "max_packet_size 262144" in limits
    assert any(d.startswith("max_queued_bytes ") and d != "max_queued_bytes 0" for d in limits)
    [k8s_config] = [d for d in load_all(K8S / "mosquitto.yaml") if d["kind"] == "ConfigMap"]
    production = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    assert k8s_config["data"]["mosquitto.conf"] == production
    for text in (production, (DEPLOY / "mosquitto" / "mosquitto-test.conf").read_text()):
        directives = _directives(text)
        for limit in limits:
            assert limit in directives, limit


def test_the_production_broker_has_a_tls_listener_for_devices() -> None:
    directives = _directives((DEPLOY / "mosquitto" / "mosquitto.conf").read_text())
    tls = directives.index("listener 8883")
    assert directives[tls + 1 : tls + 3] == [
        "certfile /mosquitto/certs/server.crt",
        "keyfile /mosquitto/certs/server.key",
    ]
    plain = directives.index("listener 1883")
    assert not any(d.startswith(("certfile", "keyfile")) for d in directives[plain + 1 : tls])
    assert "allow_anonymous false" in directives


def test_plain_mqtt_is_not_published() -> None:
    """Compose published 1883 (plain MQTT, passwords in clear) to every network; now only the
    TLS listener is, and plain MQTT stays on the internal network."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    emqx = yaml.safe_load((DEPLOY / "compose.emqx.yaml").read_text(encoding="utf-8"))
    for broker in (compose["services"]["mosquitto"], emqx["services"]["mosquitto"]):
        published = [str(p).rsplit(":", 1)[-1] for p in broker["ports"]]
        assert "8883" in published and "1883" not in published, broker["ports"]
    mounts = compose["services"]["mosquitto"]["volumes"]
    assert "./certs:/mosquitto/certs:ro" in mounts
    for name, service in compose["services"].items():
        assert not any("1883" in str(p) for p in service.get("ports", [])), name
    services = [d for d in k8s_documents() if d["kind"] == "Service"]
    for service in services:
        ports = {p["port"] for p in service["spec"]["ports"]}
        if 1883 in ports:
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]
    devices = [s for s in services if {p["port"] for p in s["spec"]["ports"]} == {8883}]
    assert [s["spec"]["type"] for s in devices] == ["LoadBalancer"]


# --- schema validation -----------------------------------------------------------------------

K8S_VERSION = "1.30.0"  # the oldest Kubernetes minor the manifests are meant for


def _check_compose(*files: Path) -> subprocess.CompletedProcess[str]:
    """The compose files against the Compose Specification's JSON schema (vendored by
    check-jsonschema: no network, no Docker engine)."""
    cmd = [
        sys.executable,
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        *map(str, files),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_compose_files_match_the_compose_specification(tmp_path: Path) -> None:
    ok = _check_compose(DEPLOY / "compose.yaml", DEPLOY / "compose.emqx.yaml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    broken["services"]["api"]["restart_policy"] = "always"  # not a compose key
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    refused = _check_compose(tmp_path / "compose.yaml")
    assert refused.returncode != 0 and "restart_policy" in refused.stdout + refused.stderr


@pytest.mark.parametrize(
    "path", sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"), ids=str
)
def test_k8s_manifests_match_the_kubernetes_schemas(path: Path) -> None:
    for document in load_all(path):
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def test_k8s_validation_rejects_a_bad_manifest() -> None:
    (deployment,) = [d for d in load_all(K8S / "api-deployment.yaml") if d["kind"] == "Deployment"]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_the_publisher_keeps_its_key_and_signed_roots_on_a_volume() -> None:
    """Without a key no day is signed, and a completed day without its root fails
    verification; the record of signed roots must outlive the container."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    alerts = compose["services"]["alerts"]
    key = alerts["environment"]["SOURCEWATCH_SIGNING_KEY_FILE"]
    assert key == "/var/lib/sourcewatch/signing-key.pem"
    assert "signing:/var/lib/sourcewatch" in alerts["volumes"] and "signing" in compose["volumes"]
    [deployment] = [
        d for d in load_all(K8S / "alerts-deployment.yaml") if d["kind"] == "Deployment"
    ]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {v["name"]: v.get("value") for v in container["env"]}
    assert env["SOURCEWATCH_SIGNING_KEY_FILE"] == key
    assert container["volumeMounts"] == [{"name": "signing", "mountPath": "/var/lib/sourcewatch"}]
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert any(
        d["kind"] == "PersistentVolumeClaim" and d["metadata"]["name"] == claim
        for d in k8s_documents()
    )
    assert "chown 10001:10001 /var/lib/sourcewatch" in (ROOT / "Dockerfile").read_text()


def test_the_k8s_process_counts_are_the_cpu_limits() -> None:
    """A pod sees every core of its node: the API's workers and the evaluator's processes are
    set to the cores of the container's CPU limit, not left at "one per core"."""
    counts = {"api": "SOURCEWATCH_API_WORKERS", "alerts": "SOURCEWATCH_EVALUATOR_PROCESSES"}
    for d in k8s_documents():
        if d["kind"] != "Deployment":
            continue
        [container] = d["spec"]["template"]["spec"]["containers"]
        name = container["name"]
        if name in counts:
            env = {v["name"]: v.get("value") for v in container["env"]}
            assert env[counts[name]] == container["resources"]["limits"]["cpu"], name


def test_the_readme_states_the_k8s_memory_limits() -> None:
    """README's memory paragraph quotes the ingest worker's and Mosquitto's k8s limits."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    workloads = {
        d["metadata"]["name"]: d for d in k8s_documents() if "template" in d.get("spec", {})
    }

    def limit_gib(name: str) -> str:
        container = workloads[name]["spec"]["template"]["spec"]["containers"][0]
        return str(container["resources"]["limits"]["memory"]).removesuffix("Gi") + " GiB"

    assert f"the Kubernetes deployment gives it {limit_gib('sourcewatch-ingest')}" in readme
    assert f"`deploy/k8s/mosquitto.yaml` limits\nit to {limit_gib('mosquitto')}" in readme
