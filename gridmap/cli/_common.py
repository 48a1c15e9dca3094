"""What every ``gridmap`` command group shares: the Typer app class (plain help, one error style),
how a refusal is printed and exits, option checks, progress on the terminal, CJK-aware tables.

One style for every error, whoever raises it (click's parser, a command, the library)::

    gridmap: <Chinese message>（<stable_code>）

on stderr, exit 1 when the work was refused or found errors, 2 when a file or an option could not
be used. :class:`GridmapGroup` turns click's usage errors, :class:`~gridmap.errors.GridmapError`
and an unreachable database into that line (see :mod:`gridmap.cli._errors`), so ``CliRunner``
and the console script behave the same.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

from gridmap.io.fields import parse_field_items

try:  # typer >= 0.22 vendors click
    from typer._click import exceptions as click_errors
    from typer._click.formatting import HelpFormatter
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_errors  # type: ignore[no-redef]
    from click.formatting import HelpFormatter  # type: ignore[assignment]


def fail(message: str, code: str, exit_code: int = 2) -> typer.Exit:
    """Print ``gridmap: message（code）`` to stderr; the ``typer.Exit`` to raise. ``exit_code``: 2 a
    file or an option could not be used (the default), 1 the work was refused."""
    typer.echo(error_line(message, code), err=True)
    return typer.Exit(exit_code)


_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
#: A full-width parenthesis holding a library's own English sentence (three or more words, no CJK).
_LIBRARY_TEXT = re.compile(
    r"（[^（）\u3000-\u9fff]*?[A-Za-z]+[ ,.;:'\"]+[A-Za-z]+[ ,.;:'\"]+[A-Za-z][^（）\u3000-\u9fff]*）"
)


def has_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def without_library_text(message: str) -> str:
    """``message`` without the library's English a reader put in parentheses for developers, e.g.
    "不是有效的 GeoPackage 文件（'x.gpkg' not recognized as being in a supported file format.）"."""
    return _LIBRARY_TEXT.sub("", message)


def error_line(message: str, code: str) -> str:
    """``gridmap: message（code）``: the one shape of an error on the terminal (a library's English
    in parentheses left out, see :func:`without_library_text`)."""
    return f"gridmap: {without_library_text(message).rstrip().rstrip('。')}（{code}）"


def parse_field_mapping(items: list[str] | None, example: str = "code=网格编码") -> dict[str, str]:
    """``--field NAME=COLUMN`` options as {NAME: COLUMN}; exit 2 on a malformed one."""
    try:
        return parse_field_items(items or [])
    except ValueError as exc:
        raise fail(
            f"选项 --field 的值无效：应为 名称=列名，例如 {example}，而不是“{exc.args[0]}”", "invalid_option"
        ) from None


def check_choice(option: str, value: str, choices: Sequence[str]) -> None:
    """Exit 2 (``invalid_option``) unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise fail(f"选项 {option} 的值无效：应为 {' / '.join(choices)} 之一，而不是“{value}”", "invalid_option")


def in_range(low: int, high: int) -> Callable[[int | None], int | None]:
    """An option callback: the value must lie in [low, high] (``invalid_option`` otherwise). Used
    instead of ``min=``/``max=`` so the help shows the option's own words, not ``[0<=x<=4]``."""

    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise typer.BadParameter(f"应为 {low} 到 {high} 之间的整数，而不是“{value}”")
        return value

    return check


# ------------------------------------------------------------------------------------ progress


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


@contextmanager
def working(text: str) -> Iterator[None]:
    """A spinner with ``text`` (Chinese, e.g. "正在校验 …") on stderr while a long step runs; only
    when stderr is a terminal, so tests, pipes, logs and ``--format json`` see exactly nothing."""
    if not _stderr_is_terminal():
        yield
        return
    from rich.console import Console
    from rich.live import Live
    from rich.spinner import Spinner

    # stdout is never redirected (it may be a file or a pipe: a report, JSON); stderr lines printed
    # meanwhile (the local cluster's notes) appear above the spinner.
    spinner = Spinner("dots", text=text, style="green")
    with Live(spinner, console=Console(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=True):
        yield


# ------------------------------------------------------------------------------------ tables


def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide and full-width characters take two,
    combining marks none (``wcwidth`` without the dependency)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int, align: str = "<") -> str:
    """``text`` padded with spaces to ``width`` terminal columns (``<`` left, ``>`` right)."""
    fill = " " * max(0, width - text_width(text))
    return fill + text if align == ">" else text + fill


def table_lines(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> list[str]:
    """A plain-text table whose columns line up with Chinese text in them: each column as wide as its
    widest cell (in terminal columns), two spaces between columns, ``align`` one ``<``/``>`` per
    column. Plain text, not a rich table: the lines stay whole in pipes, files and ``grep``."""
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(text_width(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(pad(c, w, a) for c, w, a in zip(row, widths, align)).rstrip() for row in cells]


# ------------------------------------------------------------------------------------ the app


#: Follows each wide (CJK) character while click wraps the help, so that it counts two columns.
_WIDE = "\ue000"


def _widened(text: str) -> str:
    return "".join(ch + _WIDE if unicodedata.east_asian_width(ch) in ("W", "F") else ch for ch in text)


class _HelpFormatter(HelpFormatter):
    """click's help formatter, wrapping at the terminal columns text takes: click counts a Chinese
    character as one column, so lines with Chinese in them ran past the terminal's edge."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(_widened(prog), _widened(args), prefix)

    def write_text(self, text: str) -> None:
        super().write_text(_widened(text))

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(_widened(a), _widened(b)) for a, b in rows], col_max, col_spacing)

    def getvalue(self) -> str:
        return super().getvalue().replace(_WIDE, "")


class _Context(typer.Context):
    formatter_class = _HelpFormatter


def _unbraced(piece: str) -> str:
    """Typer writes a required argument as ``{FILE}`` in the usage line; the convention is ``FILE``."""
    return piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece


def _no_default_notes(params: list[Any]) -> None:
    """No ``[default: …]`` after an option's help (it wraps mid-bracket in a narrow terminal): the
    help texts say their defaults in words."""
    for param in params:
        if param.param_type_name == "option":
            param.show_default = False


def _parsed(ctx: Any, args: list[str], parse: Callable[[Any, list[str]], list[str]]) -> list[str]:
    """``parse(ctx, args)``, with the command's context attached to a usage error click's parser
    raised without one (so the error can name the command: "gridmap coverage --help")."""
    try:
        return parse(ctx, args)
    except click_errors.UsageError as exc:
        if exc.ctx is None:
            exc.ctx = ctx
        raise


if TYPE_CHECKING:  # the mixin's methods call the command class's own (mypy sees them there)
    from typer.core import TyperCommand as _CommandBase
else:
    _CommandBase = object


class _CleanUsage(_CommandBase):
    """What commands and groups share: our context, no ``[default: …]`` notes, ``FILE`` (not
    ``{FILE}``) in the usage line, argument errors in the one style."""

    context_class = _Context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _no_default_notes(self.params)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_unbraced(p) for p in super().collect_usage_pieces(ctx)]

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return _parsed(ctx, args, super().parse_args)


class GridmapCommand(_CleanUsage, TyperCommand):
    """A command whose help reads cleanly: ``FILE`` (not ``{FILE}``) in the usage line, arguments
    listed by their name without a ``<path>``-style type placeholder (options show their
    ``metavar``), no ``[default: …]`` notes (see :func:`_no_default_notes`), Chinese wrapped at
    its width."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((param.metavar or (param.name or "").upper(), getattr(param, "help", None) or ""))
            else:
                options.append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)


class GridmapGroup(_CleanUsage, TyperGroup):
    """A command group that reports every error in the one style (see the module docstring).

    Errors are caught where the group parses its arguments (``make_context``) and where it runs a
    subcommand (``invoke``): click's parser raises its usage errors there, commands their
    refusals. The root group catches all of them, for ``gridmap …`` and ``CliRunner`` alike."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each subcommand with the whole first sentence of its help, wrapped: click would cut it
        to the terminal width and end it with "..." mid-sentence."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        from gridmap.cli._errors import reported

        with reported():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        from gridmap.cli._errors import reported

        with reported():
            return super().invoke(ctx)


class GridmapTyper(typer.Typer):
    """``typer.Typer`` with gridmap's defaults: :class:`GridmapGroup` and :class:`GridmapCommand`,
    plain help (no rich boxes: paragraphs wrap as written and nothing is reflowed mid-sentence),
    no shell-completion options, no locals in tracebacks (they would print database URLs with
    their passwords)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", GridmapGroup)
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("pretty_exceptions_show_locals", False)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or GridmapCommand, **kwargs)
