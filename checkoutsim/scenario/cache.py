"""The ``[cache]`` section: a stock cache in front of the inventory store.

Off by default (``page_view = false``): shoppers go straight to checkout, as in
every scenario written before the cache. The rules the settings select are
``checkoutsim.policy.stock_cache``'s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from checkoutsim.policy.stock_cache import CachePolicy


class Cache(BaseModel):
    """Product-page views before checkout, and the cache they are served from."""

    # The same strictness as every other section (``settings.Section``), restated
    # here because this module cannot import settings without an import circle.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

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
