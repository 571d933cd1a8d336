"""The dev cluster's object store: what etcd plus the API server's registry do in Kubernetes.

Synchronous and single-threaded: every method runs on the caller's thread (the one event loop
of the dev cluster) and returns deep copies, so callers may mutate what they get.

What callers may rely on:

- Every stored object has ``kind``, ``apiVersion`` and ``metadata`` with ``name``,
  ``namespace`` (namespaced types), ``uid``, ``resourceVersion`` (one global counter, as a
  string, increasing with every change) and ``creationTimestamp`` (RFC 3339, ``Z``).
- Errors are :class:`ApiError` with Kubernetes' codes, reasons and messages
  (``pods "x" not found``), ready for :meth:`ApiError.to_status`.
- Updates that change nothing do not bump ``resourceVersion`` and notify nobody.
- Pods bound to a node (``spec.nodeName``) and not terminal are deleted gracefully: marked with
  ``deletionTimestamp``/``deletionGracePeriodSeconds`` until :meth:`Store.finalize_pod`.
  Removing any object deletes its dependents (owner garbage collection) unless the
  propagation policy is ``Orphan``.
- :meth:`Store.watch` replays history after a resourceVersion (410 ``Expired`` once it is
  compacted away) and then streams live changes; selectors work like Kubernetes': an object
  that stops matching is sent as ``DELETED``, one that starts matching as ``ADDED``.
- Listeners (:meth:`Store.add_listener`) are called synchronously, in change order, even when a
  listener itself changes the store.

Stored objects are never mutated in place: each change stores a new dict, so the history can
share them without copying.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from coursehub.devcluster.defaults import (
    apply_create_defaults,
    apply_update_defaults,
    name_errors,
    validation_errors,
)
from coursehub.devcluster.errors import ApiError, details, invalid, not_found
from coursehub.devcluster.patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from coursehub.devcluster.resources import RESOURCES, ResourceType
from coursehub.devcluster.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from coursehub.devcluster.watch import Change, Watch, clone

__all__ = ["ApiError", "Listener", "Store", "Watch", "clone", "now_rfc3339"]

log = logging.getLogger(__name__)

Listener = Callable[[str, str, dict], None]

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
# Immutable after creation, whatever an update sends.
_SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
# Kubernetes' generateName suffix alphabet (no vowels, no confusable characters).
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339(offset_seconds: float = 0) -> str:
    """The current UTC time as Kubernetes writes timestamps: ``2024-05-01T12:00:00Z``."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(obj: dict) -> tuple[str, str]:
    metadata = obj["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


class Store:
    """All objects of the dev cluster, their history and their watchers.

    Creates namespace ``default`` on construction.
    """

    def __init__(self, history_limit: int = 5000):
        self._history_limit = history_limit
        self._objects: dict[str, dict[tuple[str, str], dict]] = {p: {} for p in RESOURCES}
        self._resource_version = 0
        self._history: deque[Change] = deque()
        # Every change with a version above this floor is still in the history.
        self._history_floor = 0
        self._watches: set[Watch] = set()
        self._listeners: list[Listener] = []
        self._pending_notifications: deque[tuple[str, str, dict]] = deque()
        self._notifying = False
        # Propagation policy of pods marked for graceful deletion, applied on finalize.
        self._deferred_propagation: dict[tuple[str, str], str | None] = {}
        self.create("namespaces", None, {"metadata": {"name": "default"}})

    # ---- reading -------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The current (latest) resourceVersion."""
        return str(self._resource_version)

    def get(self, plural: str, namespace: str | None, name: str) -> dict:
        """One object; 404 if absent."""
        resource = self._resource(plural)
        return clone(self._get_stored(resource, namespace, name))

    def list(
        self,
        plural: str,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[dict], str]:
        """(matching objects sorted by namespace and name, the list's resourceVersion).

        ``namespace=None`` lists every namespace. Bad selectors raise 400.
        """
        resource = self._resource(plural)
        labels, fields = self._selectors(label_selector, field_selector)
        scope = self._scope_namespace(resource, namespace) if namespace else None
        items = [
            clone(obj)
            for key, obj in sorted(self._objects[plural].items())
            if (scope is None or key[0] == scope) and labels.matches(obj) and fields.matches(obj)
        ]
        return items, self.resource_version

    # ---- writing -------------------------------------------------------------------------

    def create(self, plural: str, namespace: str | None, obj: dict) -> dict:
        """Store a new object (201 semantics); returns it as stored.

        Fills uid, resourceVersion, creationTimestamp, namespace, a name from generateName, and
        the type's defaults. 409 if the name exists, 404 if the namespace does not, 422 if the
        name or the object is invalid, 400 if ``obj`` names another namespace.
        """
        resource = self._resource(plural)
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", f"the body of a {resource.kind} must be an object")
        obj = clone(obj)
        metadata = obj.get("metadata")
        if metadata is None:
            metadata = obj["metadata"] = {}
        if not isinstance(metadata, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        scope = self._object_namespace(resource, namespace, metadata)
        if resource.namespaced and ("", scope) not in self._objects["namespaces"]:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{scope}" not found',
                {"name": scope, "kind": "namespaces"},
            )
        name = metadata.get("name") or ""
        if not name and metadata.get("generateName"):
            name = self._generated_name(resource, scope, metadata["generateName"])
        errors = name_errors(name, resource.name_rule)
        if errors:
            raise invalid(resource, name, errors)
        if (scope, name) in self._objects[plural]:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{resource.qualified_plural} "{name}" already exists',
                details(name, resource.plural, resource),
            )
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            metadata.pop(field, None)
        metadata["name"] = name
        if resource.namespaced:
            metadata["namespace"] = scope
        else:
            metadata.pop("namespace", None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        if "spec" in obj or resource.plural == "pods":
            metadata["generation"] = 1
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        apply_create_defaults(resource, obj)
        errors = validation_errors(resource, obj)
        if errors:
            raise invalid(resource, name, errors)
        stored = self._commit("ADDED", resource, None, obj)
        return clone(stored)

    def replace(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        obj: dict,
        subresource: str | None = None,
    ) -> dict:
        """PUT: store ``obj`` as the new state of an existing object.

        409 Conflict if ``obj.metadata.resourceVersion`` is set and stale.
        ``subresource="status"``: only ``.status`` is taken from ``obj``; otherwise ``.status``
        is kept for types with a status subresource. uid and creationTimestamp never change.
        """
        resource = self._resource(plural)
        current = self._get_stored(resource, namespace, name)
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
            raise ApiError(400, "BadRequest", f"the body of a {resource.kind} must be an object")
        body_name = (obj.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({body_name}) does not match the name on the URL ({name})",
            )
        return clone(self._update(resource, current, obj, subresource))

    def patch(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str,
        subresource: str | None = None,
    ) -> dict:
        """PATCH with one of the three patch content types; returns the new state.

        ``body`` is the patch as parsed JSON (dict or list) or as JSON text/bytes.
        415 for other content types (server-side apply included), 422 for patches that do not
        apply, 409 if the patch sets a stale ``metadata.resourceVersion``.
        """
        resource = self._resource(plural)
        current = self._get_stored(resource, namespace, name)
        media_type = content_type.split(";", 1)[0].strip().lower()
        if isinstance(body, bytes | str):
            try:
                body = json.loads(body)
            except ValueError as error:
                raise ApiError(
                    400, "BadRequest", f"the patch is not valid JSON: {error}"
                ) from error
        appliers = {
            STRATEGIC_MERGE_PATCH: apply_strategic_merge_patch,
            MERGE_PATCH: apply_merge_patch,
            JSON_PATCH: apply_json_patch,
        }
        if media_type not in appliers:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(appliers)} (the dev cluster has no server-side apply; "
                f"use client-side kubectl apply)",
            )
        try:
            patched = appliers[media_type](current, body)
        except PatchError as error:
            raise ApiError(
                422, "Invalid", f'{resource.qualified_kind} "{name}" is invalid: {error}'
            ) from error
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise ApiError(
                422,
                "Invalid",
                f'{resource.qualified_kind} "{name}" is invalid: metadata: Required value',
            )
        patched_name = patched["metadata"].get("name")
        if patched_name != name:
            raise ApiError(
                422,
                "Invalid",
                f'{resource.qualified_kind} "{name}" is invalid: metadata.name: '
                f'Invalid value: "{patched_name}": field is immutable',
            )
        return clone(self._update(resource, current, patched, subresource))

    def delete(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
    ) -> dict:
        """Delete an object; returns its last state (for a marked pod: with the marks).

        Bound, non-terminal pods are marked for graceful deletion (``deletionTimestamp`` = now
        + grace, ``deletionGracePeriodSeconds`` = grace, default the pod's
        ``terminationGracePeriodSeconds``) and stay until :meth:`finalize_pod`; a second delete
        may shorten the grace period. ``grace_period_seconds == 0``, unbound pods and every
        other type are removed at once, and so are their dependents unless
        ``propagation_policy == "Orphan"``. Deleting a namespace deletes its contents.
        """
        resource = self._resource(plural)
        current = self._get_stored(resource, namespace, name)
        if propagation_policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(
                400,
                "BadRequest",
                f'propagationPolicy "{propagation_policy}" is not one of Orphan, Background, '
                "Foreground",
            )
        if plural == "pods" and self._deletes_gracefully(current, grace_period_seconds):
            return clone(
                self._mark_for_deletion(resource, current, grace_period_seconds, propagation_policy)
            )
        if plural == "namespaces":
            self._delete_namespace_contents(name)
        return clone(self._remove(resource, current, propagation_policy))

    def delete_collection(
        self,
        plural: str,
        namespace: str | None,
        label_selector: str = "",
        field_selector: str = "",
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
    ) -> list[dict]:
        """Delete every matching object (as :meth:`delete` does each); returns their states."""
        items, _ = self.list(plural, namespace, label_selector, field_selector)
        deleted = []
        for item in items:
            metadata = item["metadata"]
            try:
                deleted.append(
                    self.delete(
                        plural,
                        metadata.get("namespace"),
                        metadata["name"],
                        grace_period_seconds,
                        propagation_policy,
                    )
                )
            except ApiError as error:
                if error.code != 404:  # already removed by garbage collection
                    raise
        return deleted

    def finalize_pod(self, namespace: str, name: str) -> None:
        """Remove a pod for good (the kubelet calls this once its processes are gone).

        A no-op if the pod is already gone.
        """
        resource = RESOURCES["pods"]
        current = self._objects["pods"].get((namespace, name))
        if current is None:
            return
        policy = self._deferred_propagation.pop((namespace, name), None)
        self._remove(resource, current, policy)

    # ---- watching and listening ----------------------------------------------------------

    def watch(
        self,
        plural: str,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        send_initial_events: bool = False,
    ) -> Watch:
        """Watch changes after ``resource_version``.

        Without a version (or ``"0"``), first sends ``ADDED`` for every matching object.
        ``send_initial_events=True`` (a "watch list", as kubectl ≥ 1.32 asks for) does that
        whatever the version and then sends a ``BOOKMARK`` whose object carries the annotation
        ``k8s.io/initial-events-end: "true"`` and the current resourceVersion.
        410 ``Expired`` if the version is older than the history kept; 400 for a version that
        is not a number or bad selectors.
        """
        resource = self._resource(plural)
        labels, fields = self._selectors(label_selector, field_selector)
        scope = namespace if namespace and resource.namespaced else None
        watch = Watch(self._watches.discard, plural, scope, labels, fields)
        if send_initial_events or resource_version in (None, "", "0"):
            for _, obj in sorted(self._objects[plural].items()):
                watch.offer_added(obj)
            if send_initial_events:
                watch.offer_bookmark(
                    {
                        "kind": resource.kind,
                        "apiVersion": resource.api_version,
                        "metadata": {
                            "resourceVersion": self.resource_version,
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    }
                )
        else:
            try:
                since = int(resource_version)
            except ValueError as error:
                raise ApiError(
                    400, "BadRequest", f'invalid resource version "{resource_version}"'
                ) from error
            if since < self._history_floor:
                raise ApiError(
                    410,
                    "Expired",
                    f"too old resource version: {since} ({self._history_floor + 1})",
                )
            # Walk back from the newest change only as far as needed: O(replayed events).
            replay = []
            for change in reversed(self._history):
                if change.resource_version <= since:
                    break
                replay.append(change)
            for change in reversed(replay):
                watch.offer(change)
        self._watches.add(watch)
        return watch

    def add_listener(self, callback: Listener) -> None:
        """Call ``callback(event_type, plural, obj)`` after every change, synchronously.

        ``obj`` is a copy the listener may keep. Changes a listener makes are delivered after
        the current notification round, in order. Exceptions are logged, not raised.
        """
        self._listeners.append(callback)

    def compact(self) -> None:
        """Forget all history: watches from any older version now get 410."""
        self._history.clear()
        self._history_floor = self._resource_version

    # ---- internals -----------------------------------------------------------------------

    def _resource(self, plural: str) -> ResourceType:
        resource = RESOURCES.get(plural)
        if resource is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return resource

    @staticmethod
    def _selectors(label_selector: str, field_selector: str) -> tuple[LabelSelector, FieldSelector]:
        try:
            return parse_label_selector(label_selector), parse_field_selector(field_selector)
        except SelectorError as error:
            raise ApiError(400, "BadRequest", str(error)) from error

    @staticmethod
    def _scope_namespace(resource: ResourceType, namespace: str | None) -> str:
        if not resource.namespaced:
            return ""
        return namespace or ""

    def _object_namespace(
        self, resource: ResourceType, namespace: str | None, metadata: dict
    ) -> str:
        if not resource.namespaced:
            return ""
        body_namespace = metadata.get("namespace")
        if namespace and body_namespace and body_namespace != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the "
                f"request ({body_namespace} != {namespace})",
            )
        scope = namespace or body_namespace
        if not scope:
            raise ApiError(400, "BadRequest", f"a {resource.kind} needs a namespace")
        return scope

    def _get_stored(self, resource: ResourceType, namespace: str | None, name: str) -> dict:
        key = ((namespace or "") if resource.namespaced else "", name)
        stored = self._objects[resource.plural].get(key)
        if stored is None:
            raise not_found(resource, name)
        return stored

    def _generated_name(self, resource: ResourceType, scope: str, prefix: str) -> str:
        prefix = prefix[: 63 - 5] if resource.name_rule == "label" else prefix[: 253 - 5]
        while True:
            suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
            if (scope, prefix + suffix) not in self._objects[resource.plural]:
                return prefix + suffix

    def _update(
        self, resource: ResourceType, current: dict, obj: dict, subresource: str | None
    ) -> dict:
        requested_version = (obj.get("metadata") or {}).get("resourceVersion")
        current_version = current["metadata"]["resourceVersion"]
        if requested_version and str(requested_version) != current_version:
            raise ApiError(
                409,
                "Conflict",
                f"Operation cannot be fulfilled on {resource.qualified_plural} "
                f'"{current["metadata"]["name"]}": '
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
                details(current["metadata"]["name"], resource.plural, resource),
            )
        if subresource == "status":
            if not resource.has_status:
                raise not_found(resource, current["metadata"]["name"] + "/status")
            new = clone(current)
            new["status"] = clone(obj.get("status") or {})
        elif subresource is None:
            new = clone(obj)
            new["metadata"] = metadata = clone(obj.get("metadata") or {})
            for field in ("name", "namespace", *_SYSTEM_METADATA):
                if field in current["metadata"]:
                    metadata[field] = current["metadata"][field]
                else:
                    metadata.pop(field, None)
            if resource.has_status:
                if "status" in current:
                    new["status"] = clone(current["status"])
                else:
                    new.pop("status", None)
            apply_update_defaults(resource, new)
            generation = current["metadata"].get("generation")
            if generation is not None:
                changed = new.get("spec") != current.get("spec")
                metadata["generation"] = generation + 1 if changed else generation
        else:
            raise ApiError(
                404,
                "NotFound",
                f"the server could not find the requested resource "
                f"({resource.plural}/{subresource})",
            )
        new["apiVersion"] = resource.api_version
        new["kind"] = resource.kind
        new["metadata"]["resourceVersion"] = current_version
        if new == current:
            return current
        errors = validation_errors(resource, new)
        if errors:
            raise invalid(resource, current["metadata"]["name"], errors)
        return self._commit("MODIFIED", resource, current, new)

    @staticmethod
    def _deletes_gracefully(pod: dict, grace_period_seconds: int | None) -> bool:
        if grace_period_seconds == 0:
            return False
        if not (pod.get("spec") or {}).get("nodeName"):
            return False
        if (pod.get("status") or {}).get("phase") in _TERMINAL_PHASES:
            return False
        if grace_period_seconds is None:
            default = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            already = pod["metadata"].get("deletionGracePeriodSeconds")
            return (already if already is not None else default) != 0
        return True

    def _mark_for_deletion(
        self,
        resource: ResourceType,
        pod: dict,
        grace_period_seconds: int | None,
        propagation_policy: str | None,
    ) -> dict:
        metadata = pod["metadata"]
        grace = grace_period_seconds
        if grace is None:
            grace = metadata.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        key = _key(pod)
        if propagation_policy is not None or key not in self._deferred_propagation:
            self._deferred_propagation[key] = propagation_policy
        already = metadata.get("deletionGracePeriodSeconds")
        if already is not None and already <= grace:
            return pod  # a later delete may only shorten the grace period
        marked = clone(pod)
        marked["metadata"]["deletionTimestamp"] = now_rfc3339(grace)
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        return self._commit("MODIFIED", resource, pod, marked)

    def _delete_namespace_contents(self, namespace: str) -> None:
        for plural, resource in RESOURCES.items():
            if not resource.namespaced:
                continue
            for key, obj in list(self._objects[plural].items()):
                if key[0] == namespace and key in self._objects[plural]:
                    if plural == "pods" and self._deletes_gracefully(obj, None):
                        self._mark_for_deletion(resource, obj, None, None)
                    else:
                        self._remove(resource, obj, None)

    def _remove(
        self, resource: ResourceType, current: dict, propagation_policy: str | None
    ) -> dict:
        key = _key(current)
        if self._objects[resource.plural].get(key) is not current:
            return current  # already removed (e.g. by garbage collection on the way here)
        del self._objects[resource.plural][key]
        if resource.plural == "pods":
            self._deferred_propagation.pop(key, None)
        final = dict(current)
        final["metadata"] = dict(current["metadata"])
        self._resource_version += 1
        final["metadata"]["resourceVersion"] = str(self._resource_version)
        self._record(Change(self._resource_version, "DELETED", resource.plural, current, final))
        self._collect_dependents(current, propagation_policy)
        return final

    def _collect_dependents(self, owner: dict, propagation_policy: str | None) -> None:
        uid = owner["metadata"]["uid"]
        owner_namespace = owner["metadata"].get("namespace")
        for plural, resource in RESOURCES.items():
            for key, obj in list(self._objects[plural].items()):
                if owner_namespace and key[0] != owner_namespace:
                    continue
                references = obj["metadata"].get("ownerReferences") or []
                if not any(reference.get("uid") == uid for reference in references):
                    continue
                if self._objects[plural].get(key) is not obj:
                    continue  # changed or removed while we were collecting
                if propagation_policy == "Orphan":
                    orphan = clone(obj)
                    orphan["metadata"]["ownerReferences"] = [
                        reference for reference in references if reference.get("uid") != uid
                    ]
                    if not orphan["metadata"]["ownerReferences"]:
                        del orphan["metadata"]["ownerReferences"]
                    self._commit("MODIFIED", resource, obj, orphan)
                elif not self._has_living_owner(references, obj):
                    if plural == "pods" and self._deletes_gracefully(obj, None):
                        self._mark_for_deletion(resource, obj, None, None)
                    else:
                        self._remove(resource, obj, None)

    def _has_living_owner(self, references: list[dict], dependent: dict) -> bool:
        namespace = dependent["metadata"].get("namespace", "")
        for reference in references:
            for plural, resource in RESOURCES.items():
                if resource.kind != reference.get("kind"):
                    continue
                scope = namespace if resource.namespaced else ""
                owner = self._objects[plural].get((scope, reference.get("name", "")))
                if owner is not None and owner["metadata"]["uid"] == reference.get("uid"):
                    return True
        return False

    def _commit(self, event_type: str, resource: ResourceType, old: dict | None, new: dict) -> dict:
        self._resource_version += 1
        new["metadata"]["resourceVersion"] = str(self._resource_version)
        self._objects[resource.plural][_key(new)] = new
        self._record(Change(self._resource_version, event_type, resource.plural, old, new))
        return new

    def _record(self, change: Change) -> None:
        self._history.append(change)
        while len(self._history) > self._history_limit:
            self._history_floor = self._history.popleft().resource_version
        for watch in list(self._watches):
            watch.offer(change)
        self._notify(change.event_type, change.plural, change.new)

    def _notify(self, event_type: str, plural: str, obj: dict) -> None:
        if not self._listeners:
            return
        self._pending_notifications.append((event_type, plural, obj))
        if self._notifying:
            return  # the outer round delivers it, keeping change order
        self._notifying = True
        try:
            while self._pending_notifications:
                event_type, plural, obj = self._pending_notifications.popleft()
                for listener in list(self._listeners):
                    try:
                        listener(event_type, plural, clone(obj))
                    except Exception:
                        log.exception(
                            "store listener %r failed on %s %s", listener, event_type, plural
                        )
        finally:
            self._notifying = False
