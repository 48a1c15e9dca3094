"""The ``gridmap`` command: one module per command group (:mod:`.app` holds the root group, ``db``,
``sample``, ``demo`` and ``serve``), what they share in :mod:`._common`."""

from gridmap.cli.app import app, main

__all__ = ["app", "main"]
