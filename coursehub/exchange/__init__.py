"""The nbgrader exchange plugin of coursehub (``plugin``) and its HTTP client (``client``).

nbgrader loads the classes by name from ``nbgrader_config.py``, e.g.
``c.ExchangeFactory.submit = "coursehub.exchange.CoursehubSubmit"``.
"""

from coursehub.exchange.plugin import (
    CoursehubCollect,
    CoursehubExchange,
    CoursehubFetchAssignment,
    CoursehubFetchFeedback,
    CoursehubList,
    CoursehubReleaseAssignment,
    CoursehubReleaseFeedback,
    CoursehubSubmit,
)

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
