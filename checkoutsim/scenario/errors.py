"""The one error a scenario problem raises: one line to show, every problem to list."""

from __future__ import annotations

from collections.abc import Sequence

from checkoutsim.scenario import inputs


class ScenarioError(inputs.InputError):
    """A scenario could not be loaded; ``str()`` is the one-line message to show.

    ``problems`` holds every problem found, each a line of its own (naming file,
    field and value), for ``validate`` to list; ``str()`` is the first with a count
    of the rest.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)

    @classmethod
    def of(cls, problems: Sequence[str]) -> ScenarioError:
        """One error for ``problems``: the first, and how many more there are."""
        more = len(problems) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        return cls(problems[0] + extra, problems)
