"""Where named scenarios live, and turning a scenario name or path into a file."""

from __future__ import annotations

from pathlib import Path

from checkoutsim.scenario.errors import ScenarioError
from checkoutsim.scenario.suggest import did_you_mean, known_names


def scenario_dirs() -> list[Path]:
    """Where named scenarios are looked for, first match wins.

    An installed wheel carries them inside the package (``checkoutsim/scenarios``);
    a source checkout (an editable install included) has them beside the package;
    last, a ``scenarios`` folder in the current directory.
    """
    package = Path(__file__).resolve().parent.parent  # checkoutsim/, above scenario/
    return [package / "scenarios", package.parent / "scenarios", Path.cwd() / "scenarios"]


def available() -> dict[str, Path]:
    """Every named scenario that can be found, by name."""
    found: dict[str, Path] = {}
    for directory in scenario_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def resolve_path(name_or_path: str) -> Path:
    """Turn a scenario name or a file path into a path that exists."""
    if "\x00" in name_or_path:
        raise ScenarioError(f"{name_or_path!r}: a path cannot contain a NUL byte")
    candidate = Path(name_or_path)
    try:
        is_file = candidate.is_file()
    except OSError as error:  # a name too long for the file system, say
        raise ScenarioError(f"{name_or_path}: cannot read: {error.strerror}") from None
    if candidate.suffix == ".toml" or is_file or "/" in name_or_path:
        if not is_file:
            raise ScenarioError(f"{name_or_path}: no such scenario file")
        return candidate
    known = available()
    # Names are matched without regard to case (``FLASH-SALE``), as the levels are.
    folded = {name.casefold(): name for name in known}
    name_or_path = folded.get(name_or_path.casefold(), name_or_path)
    if name_or_path not in known:
        hint = did_you_mean(name_or_path, sorted(known))
        if hint:  # then the whole list is noise that would push the line past its limit
            raise ScenarioError(
                f"{name_or_path}: no scenario by that name{hint} (checkoutsim list shows them all)"
            )
        listed = known_names(sorted(known), "scenario", "checkoutsim list")
        raise ScenarioError(f"{name_or_path}: no scenario by that name{listed}")
    return known[name_or_path]
