"""Every ``sourcewatch`` command's ``--help`` ends with examples of that command, the examples
parse, and ``sourcewatch --help`` lists every command."""

from __future__ import annotations

import argparse
import re
import shlex
import socket

import pytest

from sourcewatch.cli import _parser, main


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for name, child in _children(parser).items():
        found += _walk(child, (*path, name))
    return found


COMMANDS = [(path, p) for path, p in _walk(_parser()) if path]
LEAVES = [(path, p) for path, p in COMMANDS if not _children(p)]


def _examples(parser: argparse.ArgumentParser) -> str:
    text = parser.format_help()
    assert "\nexamples:\n" in text, "no examples section"
    return text.split("\nexamples:\n", 1)[1]


def test_the_tree_is_walked() -> None:
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"migrate", "registry import", "staff revoke", "dump", "simulate"} <= names
    assert len(LEAVES) >= 20


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_examples_of_itself(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    examples = _examples(parser)
    command = "sourcewatch " + " ".join(path)
    assert re.search(rf"{re.escape(command)}(\s|$)", examples), (command, examples)
    assert parser.description, command  # says what it does above the options


@pytest.mark.parametrize("path, parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_leaf_runs_something(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    assert callable(parser.get_default("run")), path


def _invocations() -> list[str]:
    """Every example command line of every help text, without env assignments or redirects."""
    lines = []
    for _, parser in [((), _parser()), *COMMANDS]:
        for line in _examples(parser).splitlines():
            if not line.startswith("  ") or line.startswith("      "):
                continue  # a description line
            words = shlex.split(line.split("|")[-1].split("<")[0])
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words.pop(0)
            if words and "COMMAND" not in words:
                lines.append(shlex.join(words))
    return sorted(set(lines))


@pytest.mark.parametrize("line", _invocations())
def test_every_example_parses(line: str) -> None:
    words = shlex.split(line)
    assert words[0] == "sourcewatch"
    args = _parser().parse_args(words[1:])
    assert callable(args.run)


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    listed = set(re.findall(r"^    (\S+)", text, re.MULTILINE))
    assert listed == set(_children(_parser()))
    assert "examples:" in text


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_exits_cleanly_and_keeps_example_lines(
    path: tuple[str, ...], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    examples = text.split("\nexamples:\n", 1)[1]
    invocation = [line for line in examples.splitlines() if "sourcewatch " in line]
    assert invocation and all(line.startswith("  ") for line in invocation)  # not re-wrapped


def test_a_database_it_cannot_reach_is_a_sentence_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sourcewatch staff add` against `up`'s private cluster without the `postgres@` of its
    URL printed psycopg's traceback; now one line naming the setting and the server's answer."""
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", f"postgresql://127.0.0.1:{port}/sourcewatch")
    assert main(["staff", "add", "li.na", "--role", "admin"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the database in SOURCEWATCH_DATABASE_URL: ")
    assert f"port {port} failed" in err and "Traceback" not in err
