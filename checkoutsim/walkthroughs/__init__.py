"""Interview-prep walkthroughs, by level, whose every number comes from a run."""

from checkoutsim.walkthroughs.compose import Block, Page, Walkthrough, iter_pages, render
from checkoutsim.walkthroughs.content import (
    LEVELS,
    Topic,
    WalkthroughError,
    check_level,
    load_topic,
    topic_names,
)
from checkoutsim.walkthroughs.evidence import Evidence

__all__ = [
    "LEVELS",
    "Block",
    "Evidence",
    "Page",
    "Topic",
    "Walkthrough",
    "WalkthroughError",
    "check_level",
    "iter_pages",
    "load_topic",
    "render",
    "topic_names",
]
