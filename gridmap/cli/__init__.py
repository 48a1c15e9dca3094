"""The ``gridmap`` command: one module per command group (:mod:`.app` holds the root group, ``db``,
``sample``, ``demo`` and ``serve``), what they share in :mod:`._common` (the Typer app class, help
layout, progress, tables), every error as one Chinese line with its code in :mod:`._errors`."""

from gridmap.cli.app import app, main

__all__ = ["app", "main"]
