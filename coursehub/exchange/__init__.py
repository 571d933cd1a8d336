"""The exchange between notebook servers and the coursehub service: the archive format
(``archive``, read as a bounded stream by ``tarstream``), the HTTP client (``client``) and
nbgrader's exchange classes over them (``plugin``).

nbgrader loads the classes by name from ``nbgrader_config.py``, e.g.
``c.ExchangeFactory.submit = "coursehub.exchange.CoursehubSubmit"``; deployments' course
folders hold such lines, so the names resolve here. They are imported on first use: the
service, the CLI and the client must not import nbgrader only to reach a sibling module.
"""

from __future__ import annotations

import importlib

__all__ = [
    "CoursehubCollect",
    "CoursehubExchange",
    "CoursehubFetchAssignment",
    "CoursehubFetchFeedback",
    "CoursehubList",
    "CoursehubReleaseAssignment",
    "CoursehubReleaseFeedback",
    "CoursehubSubmit",
]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("coursehub.exchange.plugin"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
