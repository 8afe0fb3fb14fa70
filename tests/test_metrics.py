"""Metrics and probes: the shared health server, the ingest counters after a stored frame, and
the API's own /metrics."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from ingest.hj212 import build_packet, build_segment, encode_cp
from schemas.core.health import serve_health
from tests.api.conftest import client, settings  # noqa: F401 - fixtures
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet

MN = "010000A8900016F0001METRIC"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def health() -> Iterator[tuple[str, list[bool]]]:
    registry = CollectorRegistry()
    Counter("probe_things", "Things.", registry=registry).inc(3)
    ready = [False]
    port = _free_port()
    stop = serve_health(port, registry, lambda: ready[0])
    try:
        yield f"http://127.0.0.1:{port}", ready
    finally:
        stop()


def test_health_server_answers_probes_and_metrics(health: tuple[str, list[bool]]) -> None:
    base, ready = health
    assert _get(f"{base}/healthz")[0] == 200
    assert _get(f"{base}/readyz")[0] == 503
    ready[0] = True
    assert _get(f"{base}/readyz")[0] == 200
    status, body = _get(f"{base}/metrics")
    assert status == 200
    assert "probe_things_total 3.0" in body
    assert _get(f"{base}/nothing")[0] == 404


def test_port_zero_serves_nothing() -> None:
    stop = serve_health(0, CollectorRegistry(), lambda: True)
    stop()  # a no-op, and callable


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.integration
def test_ingest_counters_after_a_stored_frame(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    before = {
        "messages": _value("sourcewatch_ingest_messages_total"),
        "new": _value("sourcewatch_ingest_frames_total", verdict="new"),
        "inserted": _value("sourcewatch_ingest_values_total", result="inserted"),
        "lag": _value("sourcewatch_ingest_lag_seconds_count"),
        "batches": _value("sourcewatch_ingest_batch_seconds_count"),
    }
    cp = encode_cp(
        {"DataTime": datetime.now().strftime("%Y%m%d%H%M%S")},
        {"a21026": {"Rtd": "35.2", "Flag": "N"}},
    )
    frame = build_packet(
        build_segment(qn="20261128080000000", st="31", cn="2011", pw="123456", mn=MN, flag=4, cp=cp)
    )
    with running_worker(mqtt_url, database_url) as running, publisher(mqtt_url) as publish:
        publish(f"hj212/{MN}/up", frame)
        wait_until(lambda: running.worker.stats.messages >= 1, what="the frame stored")
        assert running.worker.stats.last_write_ok
    assert _value("sourcewatch_ingest_messages_total") == before["messages"] + 1
    assert _value("sourcewatch_ingest_frames_total", verdict="new") == before["new"] + 1
    assert _value("sourcewatch_ingest_values_total", result="inserted") == before["inserted"] + 1
    assert _value("sourcewatch_ingest_lag_seconds_count") == before["lag"] + 1
    assert _value("sourcewatch_ingest_batch_seconds_count") == before["batches"] + 1
    # and the health server exposes them
    port = _free_port()
    stop = serve_health(port, REGISTRY, lambda: True)
    try:
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop()
    assert status == 200
    assert 'sourcewatch_ingest_frames_total{verdict="new"}' in body


def test_api_metrics_counts_requests(client: TestClient) -> None:  # noqa: F811
    route = "/healthz"
    labels = {"method": "GET", "route": route, "status": "200"}
    before = _value("sourcewatch_api_requests_total", **labels)
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'sourcewatch_api_requests_total{method="GET",route="/healthz",status="200"}' in r.text
    assert _value("sourcewatch_api_requests_total", **labels) == before + 2
    assert client.get("/v1/no-such-thing").status_code == 404
    assert _value("sourcewatch_api_requests_total", method="GET", route="unmatched", status="404")
    client.get("/v1/outlets/12345")
    assert 'route="/v1/outlets/{outlet_id}"' in client.get("/metrics").text


def test_invented_methods_share_one_label(client: TestClient) -> None:  # noqa: F811
    """Issue 15: any token is an HTTP method; 50 invented ones must not make 50 series."""
    before = _value(
        "sourcewatch_api_requests_total", method="other", route="/healthz", status="405"
    )
    for n in range(50):
        client.request(f"INVENTED{n}", "/healthz")
    client.request("BREW", "/v1/no-such-thing")
    text = client.get("/metrics").text
    assert "INVENTED" not in text and "BREW" not in text
    after = _value("sourcewatch_api_requests_total", method="other", route="/healthz", status="405")
    assert after == before + 50
    assert _value("sourcewatch_api_requests_total", method="other", route="unmatched", status="404")
