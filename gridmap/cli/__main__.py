"""``python -m gridmap.cli``: the ``gridmap`` command."""

from gridmap.cli.app import main

main()
