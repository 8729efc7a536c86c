"""The ``[cache]`` section: a stock cache in front of the inventory store.

Off by default (``page_view = false``): shoppers go straight to checkout, as in
every scenario written before the cache. The rules the settings select are
``checkoutsim.policy.stock_cache``'s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from checkoutsim.policy.stock_cache import CachePolicy
from checkoutsim.scenario.sections import Section


class Cache(Section):
    """Product-page views before checkout, and the cache they are served from."""

    #: Shoppers view the product page (a stock read) before checkout, and do not
    #: check out when it shows too few units.
    page_view: bool = False
    #: ``none`` (every view reads the store), ``ttl`` or ``write_invalidated``.
    mode: Literal["none", "ttl", "write_invalidated"] = "none"
    #: How long a filled entry is fresh (a backstop under ``write_invalidated``).
    ttl_s: float = Field(1.0, gt=0, le=86_400)

    def policy(self) -> CachePolicy:
        """The policy core's cache policy these settings select."""
        return CachePolicy(self.mode, self.ttl_s)
