"""'Did you mean ...?': the closest known name to a mistyped one.

One rule for every name a user types (scenarios, variants, walkthrough topics,
options, commands, ``--set`` keys), so that each error suggests the same way.
Matching ignores case and uses :func:`difflib.get_close_matches`, a ratio of
shared characters, which catches the usual slips: a letter dropped, doubled or
swapped, a ``_`` for a ``-``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: How alike (0 to 1, difflib's ratio) a known name must be to be suggested;
#: difflib's own default, which suggests "flash-sale" for "flash-sal" but
#: nothing for a word that merely shares a letter or two.
CUTOFF = 0.6


def closest(word: str, known: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """The known name most like ``word`` (ignoring case), or None if none is close."""
    names = list(dict.fromkeys(str(name) for name in known))
    by_folded = {name.casefold(): name for name in reversed(names)}
    matches = difflib.get_close_matches(str(word).casefold(), list(by_folded), n=1, cutoff=cutoff)
    return by_folded[matches[0]] if matches else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known name, or ``""`` when none is close."""
    match = closest(word, known)
    return "" if match is None else f"; did you mean {match!r}?"
