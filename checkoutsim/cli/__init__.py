"""The command line: the typer app (``app``), one module per command group, and the
terminal rendering.

May import every other package; nothing imports it. ``main`` is the entry point and the
only module that imports the command modules.
"""
