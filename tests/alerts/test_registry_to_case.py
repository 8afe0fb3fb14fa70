"""The proof that a bureau's registry judges its outlets: a registry file naming each outlet's
standard and category is imported with ``sourcewatch registry import``, a logger publishes
through the real broker, ingest stores it, the evaluator judges it by the bound limit and opens
a case (ingest and the evaluator connect with their own database roles). The same file with a misspelled category is refused, naming the row and the field,
and nothing is imported."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from ingest.hj212 import build_packet, build_segment, encode_cp
from schemas.limits.rules import limits_for_outlet
from sourcewatch.cli import main
from tests.fixtures.mqtt import publisher, running_worker, wait_until

pytestmark = pytest.mark.integration

USCC = "91330206MA2H7K3P0Q"
MN = "0CA065A6F43A75F68D981728"
T0 = datetime(2026, 11, 27, 8, 0)  # local (Asia/Shanghai) time, as loggers send it
HEADER = (
    "enterprise_uscc,enterprise_name_zh,enterprise_name_en,mn,code,name_zh,name_en,kind,"
    "password,emission_standard,limit_category,limits_from,permit_number\n"
)
ROW = (
    f"{USCC},宁波北仑甬澄发电有限公司,Ningbo Yongcheng Power,{MN},DA001,1号机组烟气排放口,"
    "Unit 1 stack,gas,123456,GB 13223-2011,{category},2020-01-01,91330206MA2H7K3P0Q001P\n"
)


def frames(so2_by_hour: dict[int, Decimal], o2: Decimal) -> list[bytes]:
    out = []
    for hour, so2 in so2_by_hour.items():
        for minute in range(60):
            stamp = (T0 + timedelta(hours=hour, minutes=minute)).strftime("%Y%m%d%H%M%S")
            cp = encode_cp(
                {"DataTime": stamp},
                {
                    "a21026": {"Min": str(so2), "Avg": str(so2), "Max": str(so2), "Flag": "N"},
                    "a19001": {"Min": str(o2), "Avg": str(o2), "Max": str(o2), "Flag": "N"},
                },
            )
            seg = build_segment(
                qn=stamp + "000", st="31", cn="2051", pw="123456", mn=MN, flag=4, cp=cp
            )
            out.append(build_packet(seg))
    return out


def test_a_registry_naming_standards_judges_data_from_the_broker(
    db: psycopg.Connection,
    database_url: str,
    role_urls: dict[str, str],
    mqtt_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    registry = tmp_path / "registry.csv"

    # Misspelled: refused with the row and the field, and nothing is imported.
    registry.write_text(HEADER + ROW.format(category="coal-boiler-exisiting"), encoding="utf-8")
    assert main(["registry", "import", str(registry), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error: row 2, field limit_category: 'coal-boiler-exisiting' is not a category of" in err
    assert "nothing imported" in err
    assert db.execute("SELECT count(*) FROM outlets").fetchone() == (0,)

    registry.write_text(HEADER + ROW.format(category="coal-boiler-existing"), encoding="utf-8")
    assert main(["registry", "import", str(registry), "--no-progress"]) == 0
    assert "limit bindings: 1 added" in capsys.readouterr().out
    (outlet,) = db.execute("SELECT id FROM outlets WHERE mn = %s", (MN,)).fetchone() or ()
    (so2_limit,) = [
        lim
        for lim in limits_for_outlet(db, outlet, T0.date())
        if (lim.pollutant, lim.period) == ("a21026", "hour")
    ]
    assert (so2_limit.standard, so2_limit.category) == ("GB 13223-2011", "coal-boiler-existing")
    assert so2_limit.reference_o2 is not None

    # At the reference O2 the converted value is the measured one: 1.5 × the limit, then half.
    high, low = so2_limit.value * Decimal("1.5"), so2_limit.value / 2
    sent = frames({0: high, 1: low, 2: low}, so2_limit.reference_o2)
    stop = threading.Event()
    evaluator = Evaluator(
        EvaluatorOptions.from_settings(
            AlertsSettings(database_url=role_urls["alerts"], evaluation_sweep_s=0.5)
        )
    )
    judge = threading.Thread(target=evaluator.run, args=(stop,))
    judge.start()
    try:
        with running_worker(mqtt_url, role_urls["ingest"]), publisher(mqtt_url) as publish:
            for raw in sent:
                publish(f"hj212/{MN}/up", raw)

            def case() -> tuple[object, ...] | None:
                return db.execute(
                    "SELECT c.kind, c.pollutant, c.period, l.standard, l.category, c.max_multiple"
                    " FROM cases c JOIN limits l ON l.id = c.limit_id WHERE c.outlet_id = %s",
                    (outlet,),
                ).fetchone()

            wait_until(lambda: case() is not None, timeout=30, what="an exceedance case")
    finally:
        stop.set()
        judge.join(15)
    found = case()
    assert found is not None
    assert found[:5] == ("exceedance", "a21026", "hour", "GB 13223-2011", "coal-boiler-existing")
    assert found[5] == Decimal("0.5")
