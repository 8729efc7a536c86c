"""Entry point for ``python -m checkoutsim``."""

from checkoutsim.cli import main

main()
