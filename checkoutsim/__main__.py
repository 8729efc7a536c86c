"""Entry point for ``python -m checkoutsim``."""

from checkoutsim.cli.main import main

main()
