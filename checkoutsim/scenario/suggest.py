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


#: Longest list of known names an error line spells out; past it, the line
#: gives their count and the command that lists them, so that the one-line
#: cap (``checkoutsim.cli.errors.MAX_LINE``) never cuts a name in half.
MAX_LISTED = 100


def known_names(names: Iterable[str], noun: str, lister: str) -> str:
    """``" (known: a, b)"``, or ``" (12 scenarios; checkoutsim list shows them all)"``.

    ``noun`` is the singular of what the names are; ``lister`` the command that
    prints them all.
    """
    listed = list(names)
    if not listed:
        return f" (no {noun} found)"
    joined = ", ".join(listed)
    if len(joined) <= MAX_LISTED:
        return f" (known: {joined})"
    return f" ({len(listed)} {noun}s; {lister} shows them all)"


#: Shortest word of a ``_``-joined name that a mistyped name is matched against
#: on its own ("stock" in "stock_per_sku"; not "s" or "p").
MIN_WORD = 3


def closest_key(
    word: str, keys: Iterable[str], section: str = "", cutoff: float = CUTOFF
) -> str | None:
    """The dotted key whose last part is most like ``word``, or None if none is close.

    The keys of ``section`` (a dotted prefix such as ``"load."``: where the user
    wrote the name) are tried before the others. In each group the whole last
    part is matched first ("latncy" -> "gateway.latency"), then each of its
    ``_``-separated words ("stok" -> "catalog.stock_per_sku", whose whole name
    shares too little with "stok" for difflib). On a tie the key given first wins.
    """
    ordered = list(dict.fromkeys(str(key) for key in keys))
    inside = [key for key in ordered if key.startswith(section)]
    outside = [key for key in ordered if not key.startswith(section)]
    folded = str(word).casefold()
    for group in (inside, outside):
        for parts_of in (_whole_name, _words):
            best, best_ratio = None, cutoff
            for key in group:
                for part in parts_of(key):
                    ratio = difflib.SequenceMatcher(None, folded, part).ratio()
                    if ratio > best_ratio or (best is None and ratio >= best_ratio):
                        best, best_ratio = key, ratio
            if best is not None:
                return best
    return None


def _whole_name(key: str) -> list[str]:
    """The last part of a dotted key, folded."""
    return [key.rsplit(".", 1)[-1].casefold()]


def _words(key: str) -> list[str]:
    """The ``_``-separated words of a dotted key's last part, folded, the short ones left out."""
    return [part for part in _whole_name(key)[0].split("_") if len(part) >= MIN_WORD]
