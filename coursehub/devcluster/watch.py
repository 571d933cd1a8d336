"""Watches on the store: per-watcher queues of change events, filtered by scope and selectors.

A :class:`Watch` receives every :class:`Change` the store records and turns it into the event
a Kubernetes watcher would see: an object that stops matching the selectors is sent as
``DELETED``, one that starts matching as ``ADDED``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coursehub.devcluster.selectors import FieldSelector, LabelSelector

__all__ = ["Change", "Watch", "clone"]


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars); faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


@dataclass(frozen=True)
class Change:
    """One recorded change of one object, at one resourceVersion."""

    resource_version: int
    event_type: str
    plural: str
    old: dict | None  # the object before the change (None for ADDED)
    new: dict  # the object after it (for DELETED: the last state, with the new version)


_CLOSED = object()


class Watch:
    """A stream of ``{"type": "ADDED"|"MODIFIED"|"DELETED", "object": dict}`` events.

    (``"BOOKMARK"`` events appear only when the watch was opened with
    ``send_initial_events=True``.)

    An async iterator; :meth:`close` ends it (the iterator then stops). Obtain one from
    :meth:`Store.watch`.
    """

    def __init__(
        self,
        on_close: Callable[[Watch], None],
        plural: str,
        namespace: str | None,
        label_selector: LabelSelector,
        field_selector: FieldSelector,
    ):
        self._on_close = on_close
        self.plural = plural
        self.namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    def _matches(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self._label_selector.matches(obj) and self._field_selector.matches(obj)

    def offer(self, change: Change) -> None:
        if self.closed or change.plural != self.plural:
            return
        if change.event_type == "DELETED":
            if self._matches(change.old) or self._matches(change.new):
                self._queue.put_nowait(("DELETED", change.new))
            return
        was, now = self._matches(change.old), self._matches(change.new)
        if was and now:
            self._queue.put_nowait(("MODIFIED", change.new))
        elif now:
            self._queue.put_nowait(("ADDED", change.new))
        elif was:
            self._queue.put_nowait(("DELETED", change.new))

    def offer_added(self, obj: dict) -> None:
        if self._matches(obj):
            self._queue.put_nowait(("ADDED", obj))

    def offer_bookmark(self, obj: dict) -> None:
        self._queue.put_nowait(("BOOKMARK", obj))

    def close(self) -> None:
        """End the stream; pending and future :meth:`next_event` calls return None."""
        if not self.closed:
            self.closed = True
            self._on_close(self)
            self._queue.put_nowait(_CLOSED)

    async def next_event(self, timeout: float | None = None) -> dict | None:
        """The next event, or None when the watch is closed or ``timeout`` seconds pass."""
        if self.closed and self._queue.empty():
            return None
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # keep later calls from blocking
            return None
        event_type, obj = item
        return {"type": event_type, "object": clone(obj)}

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> dict:
        event = await self.next_event()
        if event is None:
            raise StopAsyncIteration
        return event
