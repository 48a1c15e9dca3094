"""Every error the ``gridmap`` command can meet, as one Chinese line with a stable code.

:func:`reported` wraps the root group's parsing and invocation (:class:`gridmap.cli._common.GridmapGroup`):

- click's usage errors (a bad option value, a missing argument, an unknown option or command, an
  extra argument) → ``invalid_option``, ``invalid_argument``, ``missing_argument``,
  ``missing_option``, ``missing_option_value``, ``unexpected_option_value``, ``no_such_option``,
  ``no_such_command``, ``unexpected_argument``, ``missing_command``, ``usage_error``; exit 2;
- a :class:`~gridmap.errors.GridmapError` no command caught → its code, its ``exit_code``;
- a database that cannot be reached → ``database_unavailable``, exit 1 (with an English hint line
  for the administrator);
- the project-local cluster cannot be used (not initialised, made by an older gridmap and not yet
  upgraded by ``gridmap db up``, …) → ``local_database_failed``, exit 1 (its English explanation
  and commands follow, indented).

Click's own English never reaches the user; ``--help`` (and the help a bare group prints) does.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from gridmap.cli._common import click_errors, error_line, has_chinese
from gridmap.errors import GridmapError


@contextmanager
def reported() -> Iterator[None]:
    """Turn the errors raised inside into ``gridmap: message（code）`` on stderr and the
    documented exit code (a ``typer.Exit``)."""
    from sqlalchemy.exc import OperationalError

    from gridmap.devdb import LocalClusterError

    try:
        yield
    except click_errors.NoArgsIsHelpError:
        raise  # a bare group prints its help
    except click_errors.UsageError as exc:
        code, message = usage_error(exc)
        typer.echo(error_line(message, code), err=True)
        raise typer.Exit(2) from None
    except GridmapError as exc:
        typer.echo(error_line(exc.message, exc.code), err=True)
        raise typer.Exit(exc.exit_code) from None
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        typer.echo(
            error_line(
                "无法连接数据库：本地数据库请运行 gridmap db up，其他数据库请检查 GRIDMAP_DATABASE_URL",
                "database_unavailable",
            )
            + "\n  cannot reach the database: run `gridmap db up` for the local PostGIS, "
            "or check GRIDMAP_DATABASE_URL." + f"\n  {reason}",
            err=True,
        )
        raise typer.Exit(1) from None
    except LocalClusterError as exc:
        typer.echo(local_cluster_failed(exc, "本地 PostGIS 数据库无法使用，原因见下方说明"), err=True)
        raise typer.Exit(1) from None


def local_cluster_failed(exc: Exception, message: str) -> str:
    """One Chinese line with the code ``local_database_failed``, then the tool's own (English)
    explanation and commands, indented, for whoever administers the machine."""
    details = "\n".join(f"  {line}" for line in str(exc).strip().splitlines())
    return error_line(message, "local_database_failed") + "\n" + details


# ------------------------------------------------------------------------------------ usage errors


def _command_path(ctx: Any) -> str:
    """``gridmap cameras import``: the command as the user types it (whatever the program name)."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["gridmap", *reversed(names)])


def _help_hint(exc: Any, what: str = "用法") -> str:
    return f"请用 {_command_path(getattr(exc, 'ctx', None))} --help 查看{what}"


def _param_label(param: Any) -> tuple[str, str]:
    """("选项", "--level") or ("参数", "FILE")."""
    if param is None:
        return "参数", "?"
    if param.param_type_name == "argument":
        return "参数", param.metavar or (param.name or "").upper()
    longest = max(param.opts, key=len) if param.opts else f"--{param.name}"
    return "选项", longest


#: pydantic error types (how typer checks option values) → what the value should be.
_EXPECTED = {
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "less_than_equal": "应为不大于 {le} 的数",
    "less_than": "应为小于 {lt} 的数",
    "greater_than_equal": "应为不小于 {ge} 的数",
    "greater_than": "应为大于 {gt} 的数",
    "literal_error": "应为 {expected} 之一",
    "enum": "应为 {expected} 之一",
    "date_parsing": "应为 YYYY-MM-DD 格式的日期",
    "date_from_datetime_parsing": "应为 YYYY-MM-DD 格式的日期",
    "datetime_parsing": "应为日期时间，例如 2027-06-30T18:00",
    "datetime_from_date_parsing": "应为日期时间，例如 2027-06-30T18:00",
}


def _value_reason(exc: Any) -> str:
    """Why a value was refused, in Chinese: from typer's pydantic error when there is one, the
    message itself when a gridmap callback wrote it, else a generic sentence."""
    errors = getattr(exc.__cause__, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
        except (IndexError, TypeError):
            first = None
        if first:
            expected = _EXPECTED.get(first.get("type", ""))
            if expected:
                try:
                    expected = expected.format(**(first.get("ctx") or {}))
                except (KeyError, IndexError):
                    pass
            else:
                expected = "无法识别"
            given = first.get("input")
            return f"{expected}，而不是“{given}”" if isinstance(given, str | int | float) else expected
    message = exc.message or ""
    if has_chinese(message):
        return message
    return "无法识别这个值"


def usage_error(exc: Any) -> tuple[str, str]:
    """(code, Chinese message) of one of click's usage errors; never click's English."""
    if isinstance(exc, click_errors.MissingParameter):
        kind, name = _param_label(exc.param)
        if kind == "参数":
            return "missing_argument", f"缺少参数 {name}，{_help_hint(exc)}"
        return "missing_option", f"缺少必需的选项 {name}，{_help_hint(exc)}"
    if isinstance(exc, click_errors.BadParameter):
        kind, name = _param_label(exc.param)
        code = "invalid_argument" if kind == "参数" else "invalid_option"
        return code, f"{kind} {name} 的值无效：{_value_reason(exc)}"
    if isinstance(exc, click_errors.NoSuchOption):
        guess = f"你是不是要用 {' 或 '.join(sorted(exc.possibilities))}？" if exc.possibilities else ""
        return "no_such_option", f"没有选项 {exc.option_name}，{guess}{_help_hint(exc, '可用的选项')}"
    if isinstance(exc, click_errors.BadOptionUsage):
        if "requires" in exc.message:
            return "missing_option_value", f"选项 {exc.option_name} 后面缺少它的值，{_help_hint(exc)}"
        if "does not take a value" in exc.message:
            return "unexpected_option_value", f"选项 {exc.option_name} 是开关，不带值：只写 {exc.option_name}"
        return "invalid_option", f"选项 {exc.option_name} 的用法有误，{_help_hint(exc)}"
    message = exc.message or ""
    no_command = re.match(r"No such command '(.+?)'", message)
    if no_command:
        name = no_command.group(1)
        group = getattr(exc, "ctx", None)
        known = list(group.command.list_commands(group)) if group is not None else []
        close = difflib.get_close_matches(name, known, n=2)
        guess = f"你是不是要用 {' 或 '.join(close)}？" if close else ""
        return "no_such_command", f"没有命令 {name}，{guess}{_help_hint(exc, '可用的命令')}"
    extra = re.match(r"Got unexpected extra argument\S* \((.*)\)", message)
    if extra:
        return "unexpected_argument", f"多余的参数：{extra.group(1)}，{_help_hint(exc)}"
    if message.startswith("Missing command"):
        return "missing_command", f"缺少命令，{_help_hint(exc, '可用的命令')}"
    return "usage_error", f"命令行用法有误，{_help_hint(exc)}"
