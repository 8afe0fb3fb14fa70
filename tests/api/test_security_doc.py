"""The citizen's commands of docs/security.md#verifying-the-publication-log, run as written
(curl, jq, sourcewatch) against the real API: ok on the honest log, and a failure once a
superuser has rebuilt the log and signed it again with the service's own key."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.types.json import Jsonb

from schemas.disclosure import ledger
from schemas.disclosure.signing import sign_roots
from tests.api.test_publication import DAY1, DAY2, publish
from tests.fixtures.processes import run_guarded
from tests.schemas.test_ledger import as_superuser_without_triggers

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
EXAMPLE_SERVICE = "S=https://sourcewatch.example.gov.cn"


def documented_commands() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("\n## Verifying the publication log\n") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "no ```sh block in the section"
    script = match.group(1)
    assert script.startswith(EXAMPLE_SERVICE + "\n")
    return script


def run(script: str, service: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # a chain of commands (Python processes among them): a hang guard, not a fixed 120 s
    return run_guarded(
        ["bash", "-eu", "-o", "pipefail", "-c", script.replace(EXAMPLE_SERVICE, f"S={service}")],
        cwd=folder,
        env=env,
    )


def test_the_documented_verification_passes_then_catches_a_rebuilt_log(
    api_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    if not (shutil.which("curl") and shutil.which("jq")):
        pytest.skip("the documented commands need curl and jq")
    key = Ed25519PrivateKey.generate()
    ids = [publish(db, "K-1", DAY1), publish(db, "K-2", DAY2)]
    sign_roots(db, key, through=date(2026, 11, 27))
    script = documented_commands()

    honest = run(script, api_url, tmp_path)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert honest.stdout == "ok: 2 entries, 2 roots, 2 pinned checked\n"
    assert (tmp_path / "sourcewatch.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert len(list(tmp_path.glob("roots-*.json"))) == 1

    # The attack: the log wiped, a record edited, everything logged and signed again.
    with as_superuser_without_triggers(db):
        db.execute("TRUNCATE publication_roots, publication_log")
    db.execute(
        "UPDATE disclosure_records SET content = %s WHERE id = %s",
        (Jsonb({"so2_mg_m3": 3.5}), ids[0]),
    )
    for record_id in ids:
        ledger.append(db, record_id, "publish")
    sign_roots(db, key, through=date(2026, 11, 27))

    step3 = script[script.index("# 3.") :]
    rebuilt = run(EXAMPLE_SERVICE + "\n" + step3, api_url, tmp_path)
    assert rebuilt.returncode == 1, rebuilt.stdout + rebuilt.stderr
    assert "pinned root" in rebuilt.stdout + rebuilt.stderr
