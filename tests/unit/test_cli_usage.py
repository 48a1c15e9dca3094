"""The ``gridmap`` command without a database: one error style for click's usage errors, help
that reads cleanly, tables that line up with Chinese in them, progress only on a terminal."""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
from types import SimpleNamespace

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from gridmap.cli import app
from gridmap.cli._common import table_lines, text_width, working
from gridmap.cli.boundaries import versions_table

runner = CliRunner()

#: What click / typer / rich print that a county user should never see.
NOISE = ("Invalid value", "Usage:", "Error", "Try '", "Missing", "No such", "Got unexpected", "requires an")
BOX = re.compile(r"[─│╭╮╰╯┌┐└┘]")
ONE_LINE = re.compile(r"^gridmap: \S.*（([a-z_]+)）$")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def one_error_line(result) -> str:
    """The code of the single ``gridmap: 中文（code）`` line on stderr (nothing on stdout)."""
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    match = ONE_LINE.match(lines[0])
    assert match, lines[0]
    assert CHINESE.search(lines[0]), lines[0]
    assert not BOX.search(result.stderr), result.stderr
    for noise in NOISE:
        assert noise not in result.stderr, result.stderr
    return match.group(1)


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        # a bad option value
        (["coverage", "--level", "9"], "invalid_option", "选项 --level 的值无效：应为 0 到 4 之间的整数，而不是“9”"),
        (["coverage", "--level", "x"], "invalid_option", "选项 --level 的值无效：应为整数，而不是“x”"),
        (["validate", "f.gpkg", "--sliver-width", "abc"], "invalid_option", "选项 --sliver-width 的值无效：应为数字"),
        (["serve", "--port", "99999"], "invalid_option", "应为 1 到 65535 之间的整数"),
        (["rollback", "abc"], "invalid_argument", "参数 VERSION 的值无效：应为整数，而不是“abc”"),
        # a missing argument, option or value
        (["rollback"], "missing_argument", "缺少参数 VERSION，请用 gridmap rollback --help 查看用法"),
        (["cameras", "import"], "missing_argument", "缺少参数 FILE，请用 gridmap cameras import --help"),
        (["coverage", "trend"], "missing_argument", "缺少参数 CODE"),
        (["export-map"], "missing_option", "缺少必需的选项 --out"),
        (["coverage", "--level"], "missing_option_value", "选项 --level 后面缺少它的值，请用 gridmap coverage --help"),
        # an unknown option or command, an extra argument
        (["validate", "--form", "json", "f.gpkg"], "no_such_option", "没有选项 --form，你是不是要用 --format？"),
        (["--bogus"], "no_such_option", "没有选项 --bogus"),
        (["cameras", "imprt"], "no_such_command", "没有命令 imprt，你是不是要用 import？"),
        (["nosuch"], "no_such_command", "没有命令 nosuch"),
        (["rollback", "1", "2"], "unexpected_argument", "多余的参数：2"),
        (["validate", "--no-db=1", "f.gpkg"], "unexpected_option_value", "选项 --no-db 是开关"),
    ],
)
def test_usage_errors_are_one_chinese_line_with_a_code_and_exit_2(args, code, words):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert one_error_line(result) == code
    assert words in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["validate", "f.gpkg", "--format", "xml"],
            "选项 --format 的值无效：应为 text / json / html 之一，而不是“xml”",
        ),
        (["validate", "f.gpkg", "--field", "code"], "选项 --field 的值无效：应为 名称=列名"),
        (["validate", "f.gpkg", "--households", "4-5"], "选项 --households 的值无效"),
        (["coverage", "snapshot", "--date", "2026-13-01"], "选项 --date 的值无效：应为 YYYY-MM-DD 格式的日期"),
        (["cameras", "expire", "--ttl", "-5"], "选项 --ttl 的值无效：应为正数"),
        (["token", "create", "--name", "x", "--days", "0"], "选项 --days 的值无效：应为正整数"),
    ],
)
def test_option_values_the_commands_check_use_the_same_words_and_code(args, words):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert one_error_line(result) == "invalid_option"
    assert words in result.stderr


def test_a_file_that_cannot_be_read_is_one_coded_chinese_line(tmp_path):
    garbage = tmp_path / "grids.gpkg"
    garbage.write_text("this is a text file, not a GeoPackage\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(garbage), "--no-db"])
    assert result.exit_code == 2
    assert one_error_line(result) == "unreadable"
    assert "not recognized" not in result.stderr  # GDAL's own words are left out


# --------------------------------------------------------------------------------------- help


def all_commands():
    """(path, click command) of the root, every group and every command."""

    def walk(command, path):
        yield path, command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(get_command(app), []))


HELP_NOISE = ("<bool>", "<str>", "<int", "<float>", "<path>", "<list[", "[default: ", "<=x<=", " / --no-")


def squeeze(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("path", "command"), all_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_reads_cleanly(path, command):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"Usage: gridmap {' '.join(path)}".replace("  ", " "))
    usage = out.splitlines()[0]
    assert "{" not in usage  # FILE, not {FILE}
    for noise in HELP_NOISE:
        assert noise not in out, (noise, out)
    assert not BOX.search(out)
    for line in out.splitlines():
        assert text_width(line) <= 80, line  # Chinese counted as two columns
    # The description is whole, its sentences not cut (the first paragraph as written).
    first_paragraph = squeeze((command.help or "").split("\n\n")[0])
    assert first_paragraph and first_paragraph in squeeze(out)
    # A group lists each command with its whole first sentence, never cut with "...".
    commands = out.split("\nCommands:\n")[1] if "\nCommands:\n" in out else ""
    assert not any(line.rstrip().endswith("...") for line in commands.splitlines())
    for name, sub in (getattr(command, "commands", None) or {}).items():
        assert squeeze(f"{name} {sub.get_short_help_str(limit=10_000)}") in squeeze(commands)


def description(out: str) -> list[list[str]]:
    """The paragraphs (lists of lines) between a help's usage line and its first section."""
    text = out.split("\n\n", 1)[1]
    text = re.split(r"^\w+:$", text, maxsplit=1, flags=re.M)[0]
    return [p.splitlines() for p in text.strip("\n").split("\n\n")]


def test_description_paragraphs_are_filled_not_broken_mid_sentence():
    """Each wrapped line of a description is as full as the terminal allows: the next word would not
    have fitted ("Exit 0 when there are / no errors" was a line broken where the source was)."""
    for path, _ in all_commands():
        if not path:
            continue  # the root keeps its exit-code table as laid out (click's \\b block)
        for lines in description(runner.invoke(app, [*path, "--help"]).stdout):
            for line, following in zip(lines, lines[1:]):
                next_word = following.split()[0]
                assert text_width(line) + 1 + text_width(next_word) > 78, (path, line, following)


def test_versions_table_lines_up_with_chinese_names():
    when = dt.datetime(2026, 11, 21, 8, 30)
    rows = [
        SimpleNamespace(
            id=12,
            status="published",
            root_code="411628001",
            top_level=1,
            feature_count=1234,
            live_count=1234,
            errors=0,
            created_by="县网格中心网格员张三",
            created_at=when,
            file_name="真源街道.gpkg",
            restored_from=None,
            reason=None,
        ),
        SimpleNamespace(
            id=3,
            status="rolled_back",
            root_code="411628",
            top_level=0,
            feature_count=12195,
            live_count=0,
            errors=None,
            created_by="root",
            created_at=when,
            file_name="luyi_grids.gpkg",
            restored_from=1,
            reason="回滚测试",
        ),
    ]
    lines = versions_table(rows)
    assert len(lines) == 3

    def column(line: str, text: str) -> int:
        return text_width(line[: line.index(text)])

    assert column(lines[0], "发布人") == column(lines[1], "县网格中心") == column(lines[2], "root")
    assert column(lines[0], "时间") == column(lines[1], "2026-11-21") == column(lines[2], "2026-11-21")
    assert column(lines[0], "文件") == column(lines[1], "真源街道") == column(lines[2], "luyi_grids")
    assert "（恢复自版本 1）  原因：回滚测试" in lines[2]


def test_table_lines_right_aligns_numbers_by_display_width():
    lines = table_lines(("名称", "数量"), [("甲", 5), ("abc", 12345)], "<>")
    assert [text_width(line) for line in lines] == [text_width(lines[1])] * 3
    assert lines[0].endswith("数量") and lines[1].endswith("    5")


# --------------------------------------------------------------------------------------- progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_on_a_terminal(monkeypatch):
    quiet = io.StringIO()
    monkeypatch.setattr("sys.stderr", quiet)
    with working("正在校验 a.gpkg…"):
        pass
    assert quiet.getvalue() == ""

    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setenv("TERM", "xterm-256color")
    with working("正在校验 a.gpkg…"):
        print("a note on stderr", file=sys.stderr)
    shown = terminal.getvalue()
    assert "正在校验 a.gpkg…" in shown and "a note on stderr" in shown
