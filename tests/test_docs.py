"""The repository explains itself: what the code cites is in ``docs/``, and ``docs/`` stays true.

- Every ``docs/<page>.md#<anchor>`` cited anywhere in the repository, and every
  ``<page>.md#<anchor>`` or ``#<anchor>`` link inside ``docs/``, names a page and a section
  heading that exist.
- No file cites notes that are not in the repository (research notes called ``hj212.md`` or
  ``regulations.md`` outside ``docs/``, design notes called ``DESIGN.md`` or ``STYLE.md``), and no
  file names a path of a development machine.
- Every repository path that ``docs/`` names exists.
- The table of writers in ``docs/architecture.md`` lists exactly the tables the migrations
  create, and for each table every module whose SQL writes it.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
THIS = Path(__file__).resolve()

# Migration 0006 was applied by existing databases, and `schemas/core/migrate.py` refuses a
# migration whose text (comments included) changed since: its first comment still names the old
# research notes. Every other file, and any new migration, must cite docs/.
FROZEN = {ROOT / "schemas/core/migrations/0006_pattern_rules.sql"}

_SKIP_DIRS = {".git", ".venv", "node_modules", "var", "__pycache__", "build", "dist"}


def _repository_files() -> list[Path]:
    """Tracked and new (not ignored) files; without git, a walk that skips the usual clutter."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        paths = [ROOT / name for name in out.decode("utf-8").split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        paths = [
            p
            for p in ROOT.rglob("*")
            if not any(part in _SKIP_DIRS or part.endswith("_cache") for part in p.parts)
        ]
    return sorted(p for p in paths if p.is_file())


def _text_files() -> Iterator[tuple[Path, str]]:
    for path in _repository_files():
        if path == THIS:
            continue  # this file spells out the patterns it forbids
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield path, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


FILES = list(_text_files())


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- anchors --------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_EXPLICIT = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, markup and punctuation dropped (letters of
    any script, digits, ``_`` and ``-`` kept), spaces turned into ``-``."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a Markdown page: its headings (outside code fences), numbered like GitHub
    when a heading repeats, and explicit ``<a id=…>`` targets."""
    found: set[str] = set()
    seen: dict[str, int] = defaultdict(int)
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        found.update(_EXPLICIT.findall(line))
        heading = _HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            found.add(slug if seen[slug] == 0 else f"{slug}-{seen[slug]}")
            seen[slug] += 1
    return found


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Who writes which table", "who-writes-which-table"),
        ("HJ 212-2025", "hj-212-2025"),
        ("O2 conversion", "o2-conversion"),
        ("The `frames` table (原始报文)", "the-frames-table-原始报文"),
        ("[Replies](protocol.md#replies), again", "replies-again"),
    ],
)
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_anchors_number_repeated_headings_and_skip_code(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A\n## Notes\n```\n# not a heading\n```\n## Notes\n<a id='x-1'></a>\n")
    assert anchors(page) == {"a", "notes", "notes-1", "x-1"}


_CITATION = re.compile(r"(?<![\w/.-])docs/([\w./-]+?\.md)(?:#([\w-]+))?")


def _citations() -> list[tuple[str, str, str | None]]:
    """(citing file, cited page, anchor or None) for every ``docs/…md`` cited outside docs/."""
    out: list[tuple[str, str, str | None]] = []
    for path, text in FILES:
        if path.is_relative_to(DOCS):
            continue
        for match in _CITATION.finditer(text):
            out.append((_relative(path), match.group(1), match.group(2)))
    return out


def test_the_code_cites_docs() -> None:
    """A sanity check on the scan itself: the codec and the evaluator cite docs/."""
    cited = {(page, anchor) for _, page, anchor in _citations()}
    assert ("protocol.md", "crc") in cited
    assert ("regulations.md", "validity") in cited
    assert ("architecture.md", "mqtt-topics") in cited


def test_every_citation_of_docs_exists() -> None:
    missing = []
    for where, page, anchor in _citations():
        target = DOCS / page
        if not target.is_file():
            missing.append(f"{where}: docs/{page} does not exist")
        elif anchor is not None and anchor not in anchors(target):
            missing.append(f"{where}: docs/{page} has no section #{anchor}")
    assert not missing, "\n".join(sorted(set(missing)))


_LINK = re.compile(r"\]\((?!https?:)([\w./-]*\.md)?#([\w-]+)\)")


def test_every_anchor_link_between_the_pages_exists() -> None:
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ has no pages"
    missing = []
    for page in pages:
        for match in _LINK.finditer(page.read_text(encoding="utf-8")):
            target = page if match.group(1) is None else (page.parent / match.group(1))
            if not target.is_file():
                missing.append(f"{_relative(page)}: {match.group(1)} does not exist")
            elif match.group(2) not in anchors(target):
                missing.append(f"{_relative(page)}: {_relative(target)} has no #{match.group(2)}")
    assert not missing, "\n".join(missing)


# --- notes that are not in the repository, and development paths ---------------------------

_NOTES = re.compile(r"\b(?:hj212|DESIGN|STYLE)\.md\b|(?<!docs/)\bregulations\.md\b")
_DEV_PATH = re.compile(r"(?<![\w.:/-])/(?:work|home|Users)/[\w.-]+|\b[A-Za-z]:\\Users\\")


def test_no_file_cites_notes_outside_the_repository() -> None:
    offenders = []
    for path, text in FILES:
        if path in FROZEN:
            continue
        in_docs = path.is_relative_to(DOCS)
        for number, line in enumerate(text.splitlines(), 1):
            for match in _NOTES.finditer(line):
                if in_docs and match.group() == "regulations.md":
                    continue  # a link between the pages
                offenders.append(f"{_relative(path)}:{number}: {line.strip()[:120]}")
    assert not offenders, "cite docs/ instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("(regulations.md §A.9)", True),
        ("../shared/reference/regulations.md", True),
        ("see hj212.md §3.3", True),
        ("Conventions (DESIGN.md §6)", True),
        ("(docs/regulations.md#validity)", False),
        ("docs/protocol.md#crc", False),
        ("docs/regulation-values.md", False),
    ],
)
def test_what_counts_as_citing_notes(line: str, found: bool) -> None:
    assert bool(_NOTES.search(line)) is found


def test_no_file_names_a_development_machine_path() -> None:
    offenders = [
        f"{_relative(path)}:{number}: {line.strip()[:120]}"
        for path, text in FILES
        for number, line in enumerate(text.splitlines(), 1)
        if _DEV_PATH.search(line)
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("See ``/work/shared/reference/hj212.md``", True),
        ("cd /home/alice/sourcewatch", True),
        (r"C:\Users\alice\sourcewatch", True),
        ("RUN rm -rf /root/.cache", False),
        ("https://example.org/work/items", False),
        ("hj212/{MN}/up", False),
    ],
)
def test_what_counts_as_a_development_path(line: str, found: bool) -> None:
    assert bool(_DEV_PATH.search(line)) is found


# --- what docs/ says about the code ----------------------------------------------------------

_PATH = re.compile(
    r"(?:ingest|alerts|api|schemas|sourcewatch|tests|deploy|bench|docs)/[\w./*-]*"
    r"|(?:pyproject\.toml|Makefile|Dockerfile|README\.md)"
)


_FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def test_every_path_named_in_docs_exists() -> None:
    missing = []
    for page in sorted(DOCS.glob("*.md")):
        text = _FENCED.sub("", page.read_text(encoding="utf-8"))
        for token in re.findall(r"`([^`\n]+)`", text):
            if not _PATH.fullmatch(token):
                continue  # a topic, a command, a column …
            if not any(ROOT.glob(token)) and not (ROOT / token).exists():
                missing.append(f"{_relative(page)}: {token}")
    assert not missing, "\n".join(missing)


def _section(page: Path, title: str) -> str:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _writers_table() -> dict[str, set[str]]:
    """Table → the modules the table of writers names for it."""
    documented: dict[str, set[str]] = {}
    section = _section(DOCS / "architecture.md", "Who writes which table")
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        modules = set(re.findall(r"`([^`]+)`", cells[-1]))
        for table in re.findall(r"`([a-z_]+)`", cells[0]):
            assert table not in documented, f"{table} has two rows"
            documented[table] = modules
    return documented


_CREATE = re.compile(r"CREATE (?:TABLE|MATERIALIZED VIEW)(?: IF NOT EXISTS)? ([a-z_]+)")
_WRITE = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY|TRUNCATE(?:\s+TABLE)?)\s+([a-z_]+)"
)
_APPS = ("ingest", "alerts", "api", "schemas", "sourcewatch")


def _created_tables() -> set[str]:
    sources = [*sorted((ROOT / "schemas/core/migrations").glob("*.sql"))]
    sources.append(ROOT / "schemas/core/migrate.py")
    return {t for p in sources for t in _CREATE.findall(p.read_text(encoding="utf-8"))}


def test_the_table_of_writers_lists_every_table() -> None:
    created = _created_tables()
    documented = set(_writers_table())
    assert "cases" in created and "frames" in created
    assert created - documented == set(), "tables missing from docs/architecture.md"
    assert documented - created == set(), "docs/architecture.md lists tables that do not exist"


def test_the_table_of_writers_names_every_module_that_writes() -> None:
    """Each module whose SQL inserts into, updates, deletes from or copies into a table is named
    on that table's row (tables written through composed identifiers are checked by hand)."""
    created = _created_tables()
    documented = _writers_table()
    writes: dict[str, set[str]] = defaultdict(set)
    for path, text in FILES:
        rel = _relative(path)
        if path.suffix == ".py" and rel.split("/")[0] in _APPS:
            for table in _WRITE.findall(text):
                if table in created:
                    writes[table].add(rel)
    assert writes["frames"] == {"ingest/writer.py"}
    unlisted = [
        f"{table}: {module}"
        for table, modules in sorted(writes.items())
        for module in sorted(modules - documented.get(table, set()))
    ]
    assert not unlisted, "add these writers to docs/architecture.md:\n" + "\n".join(unlisted)
