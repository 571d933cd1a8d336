"""Events about objects, recorded the way Kubernetes' event recorder does.

The same reason and message for the same object bump ``count`` and ``lastTimestamp`` of
the existing Event instead of creating another (the event correlator's aggregation).
"""

from __future__ import annotations

import secrets

from coursehub.devcluster.errors import ApiError
from coursehub.devcluster.store import now_rfc3339


class EventRecorder:
    def __init__(self, store):
        self.store = store
        self._seen: dict[tuple[str, str, str], str] = {}  # (uid, reason, message) -> name

    def record(
        self,
        involved: dict,
        reason: str,
        message: str,
        *,
        type: str = "Normal",
        component: str = "kubelet",
    ) -> None:
        metadata = involved["metadata"]
        namespace = metadata.get("namespace") or "default"
        key = (metadata["uid"], reason, message)
        now = now_rfc3339()
        existing = self._seen.get(key)
        if existing is not None:
            try:
                event = self.store.get("events", namespace, existing)
                self.store.patch(
                    "events",
                    namespace,
                    existing,
                    {"count": event.get("count", 1) + 1, "lastTimestamp": now},
                    "application/merge-patch+json",
                )
                return
            except ApiError:
                pass  # the event was deleted: record a new one
        name = f"{metadata['name']}.{secrets.token_hex(8)}"
        self.store.create(
            "events",
            namespace,
            {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": involved.get("apiVersion", "v1"),
                    "kind": involved.get("kind", "Pod"),
                    "name": metadata["name"],
                    "namespace": namespace,
                    "uid": metadata["uid"],
                    "resourceVersion": metadata.get("resourceVersion"),
                },
                "reason": reason,
                "message": message,
                "type": type,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": component},
                "reportingComponent": component,
                "reportingInstance": component,
            },
        )
        self._seen[key] = name

    def forget(self, uid: str) -> None:
        """Drop the aggregation keys of a removed object."""
        for key in [key for key in self._seen if key[0] == uid]:
            del self._seen[key]
