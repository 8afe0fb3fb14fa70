"""The regulation values of ``schemas/codes/data`` (issue #11): every confirmed row names its
source and clause or note, every unconfirmed row says what is missing, and
``docs/regulation-values.md`` lists every value as the CSVs have it."""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "regulation-values.md"

# CSV → (the key columns a row of the page starts with, the value column, the page's section)
TABLES = {
    "validity_rules.csv": (("name", "medium"), "value", "Validity rules"),
    "limits.csv": (("category", "pollutant", "period"), "value", "Emission limits"),
    "pattern_rules.csv": (("name",), "value", "Pattern rules"),
    "tax_rates.csv": (("region", "medium", "pollutant"), "value", "Tax rates"),
    "pollution_equivalents.csv": (("pollutant", "variant"), "value", "Pollution equivalents"),
    "disclosure_categories.csv": (("code",), "deadline_days", "Disclosure clocks"),
    "disclosure_record_types.csv": (("code",), "deadline_days", "Disclosure clocks"),
    "completeness_rules.csv": (("name", "medium"), "value", "Completeness rules"),
    "disclosure_request_clocks.csv": (("code",), "working_days", "Disclosure on request"),
    "disclosure_request_outcomes.csv": (("code",), "kind", "Disclosure on request"),
}
# The key naming a row in the page's "Still unconfirmed" list, as `table:key/key…`.
NAMES = {name: keys for name, (keys, _, _) in TABLES.items()} | {
    "limits.csv": ("standard", "category", "pollutant", "period")
}


def csv_rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("schemas.codes") / "data" / name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def sections() -> dict[str, list[str]]:
    """The page's lines per ``## `` section."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in DOC.read_text("utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
        out.setdefault(current, []).append(line)
    return out


def table_rows(lines: list[str]) -> list[list[str]]:
    """The cells of the body rows of every Markdown table in ``lines`` (a table: consecutive
    lines starting with ``|``, a header and a separator, then its rows)."""
    bodies: list[list[str]] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            run.append(line)
            continue
        bodies += [[c.strip() for c in row.strip()[1:-1].split("|")] for row in run[2:]]
        run = []
    return bodies


def shown(row: dict[str, str], column: str) -> str:
    value = row[column] or "—"
    return f"{row['value_min']}–{value}" if row.get("value_min") else value


def test_reference_tables_with_a_confirmed_column_are_the_documented_ones() -> None:
    folder = resources.files("schemas.codes") / "data"
    found = {
        entry.name
        for entry in folder.iterdir()
        if entry.name.endswith(".csv") and "confirmed" in csv_rows(entry.name)[0]
    }
    assert found == set(TABLES)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_confirmed_row_names_its_source_and_clause_or_note(name: str) -> None:
    for row in csv_rows(name):
        where = f"{name}: {[row[k] for k in TABLES[name][0]]}"
        assert row["confirmed"] in ("true", "false"), where
        if row["confirmed"] == "true":
            assert row["source_document"].strip(), where
            assert (row.get("clause") or "").strip() or row["note"].strip(), where
        else:
            assert row["note"].strip(), where  # what is missing


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_page_lists_every_value_with_its_status(name: str) -> None:
    keys, column, section = TABLES[name]
    body = table_rows(sections()[section])
    for row in csv_rows(name):
        key = [row[k] for k in keys]
        matches = [cells for cells in body if cells[: len(keys)] == key]
        assert len(matches) == 1, f"{name} {key}: {len(matches)} rows on the page"
        (cells,) = matches
        assert cells[len(keys)] == shown(row, column), f"{name} {key}"
        assert ("unconfirmed" in cells[-1]) == (row["confirmed"] == "false"), f"{name} {key}"


def test_the_pages_tables_hold_no_row_the_csvs_do_not() -> None:
    for section in {s for _, _, s in TABLES.values()}:
        expected = sum(len(csv_rows(n)) for n, (_, _, s) in TABLES.items() if s == section)
        assert len(table_rows(sections()[section])) == expected, section


def test_still_unconfirmed_lists_exactly_the_unconfirmed_rows() -> None:
    listed = set(re.findall(r"`([a-z_]+:[^`]+)`", "\n".join(sections()["Still unconfirmed"])))
    unconfirmed = {
        f"{name.removesuffix('.csv')}:{'/'.join(row[k] for k in NAMES[name])}"
        for name in TABLES
        for row in csv_rows(name)
        if row["confirmed"] == "false"
    }
    assert listed == unconfirmed


def test_readme_open_questions_point_to_the_unconfirmed_list() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    (paragraph,) = [p for p in readme.split("\n\n") if p.startswith("Open questions")]
    assert "docs/regulation-values.md#still-unconfirmed" in paragraph


def test_tn_and_tp_codes() -> None:
    names = {r["code"]: r["name_en"] for r in csv_rows("pollutants.csv")}
    assert "(TN)" in names["w21001"] and "(TP)" in names["w21011"]
    text = DOC.read_text("utf-8")
    assert "(TN) is **w21001**" in text and "(TP) is **w21011**" in text
