"""The dev cluster's Kubernetes API over HTTP: a tornado application in front of a Store.

``make_app(store, log_path=...)`` returns the application; the caller (``app.py``) listens on a
loopback address and writes a kubeconfig whose ``server`` is ``http://HOST:PORT`` (any bearer
token is accepted: the dev cluster has no authentication).

Container logs: the API server does not know where pods' logs live. The caller passes
``log_path(namespace, pod_name, container_name) -> Path``, the file the kubelet writes that
container's stdout and stderr to (``<state_dir>/devcluster/pods/<ns>/<pod>/<container>.log``);
``GET …/pods/NAME/log`` reads it (``container``, ``tailLines``, ``limitBytes`` and ``follow``
are honoured).

Served: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/GROUP`` and
``/apis/GROUP/VERSION`` discovery; for every type in ``resources.py``
list/watch/get/create/replace/patch/delete/deletecollection under its group version's prefix
(``/api/v1`` for the core group, ``/apis/GROUP/VERSION`` otherwise) followed by
``[/namespaces/NS]/PLURAL[/NAME[/SUBRESOURCE]]``; ``status`` subresources;
``pods/NAME/log``; ``pods/NAME/binding`` (POST a ``Binding`` to set ``spec.nodeName``).
Errors are ``Status`` bodies. ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` gets
Tables (kubectl ``get``). Watches (``?watch=1|true``) stream newline-delimited JSON events over
chunked encoding until ``timeoutSeconds`` pass or the client leaves; a watch from a compacted
resourceVersion gets one ``ERROR`` event carrying a 410 ``Expired`` Status, as Kubernetes sends.
``/openapi/v2`` and ``/openapi/v3`` are 404: use ``kubectl --validate=false`` for create/apply.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.web
from tornado.iostream import StreamClosedError

from coursehub.devcluster.discovery import (
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    version_info,
)
from coursehub.devcluster.errors import ApiError
from coursehub.devcluster.resources import ResourceType, resource_type
from coursehub.devcluster.store import Store
from coursehub.devcluster.tables import to_table, wants_table

__all__ = ["LogPath", "make_app"]

log = logging.getLogger(__name__)

LogPath = Callable[[str, str, str], Path]

_TRUE = frozenset({"1", "true", "True", "TRUE"})
_FOLLOW_POLL_SECONDS = 0.25
_NOT_FOUND = ApiError(404, "NotFound", "the server could not find the requested resource")


@dataclass(frozen=True)
class Target:
    """What a resource URL addresses."""

    resource: ResourceType
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


def parse_resource_path(path: str, group: str = "", version: str = "v1") -> Target:
    """Interpret the part of a URL after its group version's prefix (``/api/v1/`` or
    ``/apis/GROUP/VERSION/``); ApiError(404) if it names nothing that group version serves."""
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        raise _NOT_FOUND
    if segments[0] == "namespaces" and len(segments) >= 3 and segments[2] not in ("status",):
        # /namespaces/NS/PLURAL[/NAME[/SUB]]
        namespace, plural, rest = segments[1], segments[2], segments[3:]
        resource = resource_type(plural, group, version)
        if resource is None or not resource.namespaced or len(rest) > 2:
            raise _NOT_FOUND
    else:
        plural, rest, namespace = segments[0], segments[1:], None
        resource = resource_type(plural, group, version)
        if resource is None or len(rest) > 2 or (rest and resource.namespaced):
            raise _NOT_FOUND
    name = rest[0] if rest else None
    subresource = rest[1] if len(rest) > 1 else None
    if subresource is not None and subresource not in resource.subresources:
        raise _NOT_FOUND
    return Target(resource, namespace, name, subresource)


class _JsonHandler(tornado.web.RequestHandler):
    """Writes JSON bodies and turns ApiError (and crashes) into Status responses."""

    def initialize(self, store: Store, log_path: LogPath) -> None:
        self.store = store
        self.log_path = log_path

    def check_xsrf_cookie(self) -> None:  # an API for programs, not a browser form
        pass

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, separators=(",", ":")))

    def write_api_error(self, error: ApiError) -> None:
        self.write_json(error.to_status(), error.code)

    def write_document(self, document: dict | None) -> None:
        """A discovery document, or 404 for a group (version) that is not served."""
        if document is None:
            self.write_api_error(_NOT_FOUND)
        else:
            self.write_json(document)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = {405: "MethodNotAllowed", 404: "NotFound"}.get(status_code, "InternalError")
        message = self._reason if status_code < 500 else "internal error in the dev cluster"
        self.set_header("Content-Type", "application/json")
        self.finish(ApiError(status_code, reason, message).to_status())

    def json_body(self) -> Any:
        if not self.request.body:
            return None
        try:
            return json.loads(self.request.body)
        except ValueError as error:
            raise ApiError(
                400, "BadRequest", f"the request body is not valid JSON: {error}"
            ) from error


class VersionHandler(_JsonHandler):
    def get(self) -> None:
        self.write_json(version_info())


class CoreVersionsHandler(_JsonHandler):
    def get(self) -> None:
        self.write_json(api_versions(self.request.host))


class GroupListHandler(_JsonHandler):
    def get(self) -> None:
        self.write_json(api_group_list())


class GroupHandler(_JsonHandler):
    def get(self, group: str) -> None:
        self.write_document(api_group(group))


class ResourceListHandler(_JsonHandler):
    def get(self, version: str, group: str = "") -> None:
        self.write_document(api_resource_list(group, version))


class NotFoundHandler(_JsonHandler):
    def prepare(self) -> None:
        self.write_api_error(_NOT_FOUND)


class ResourceHandler(_JsonHandler):
    """Every resource URL: ``/api/v1/…`` and ``/apis/GROUP/VERSION/…``."""

    _active_watch = None
    _client_gone = False

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.get_query_argument(name, default)

    def int_query(self, name: str) -> int | None:
        value = self.query(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError as error:
            raise ApiError(
                400, "BadRequest", f"query parameter {name}={value!r} is not an integer"
            ) from error

    def _reject_dry_run(self) -> None:
        if self.query("dryRun"):
            raise ApiError(400, "BadRequest", "the dev cluster does not support dryRun")

    async def _dispatch(self, method: str, path: str, version: str, group: str) -> None:
        try:
            target = parse_resource_path(path, group, version)
            await getattr(self, f"_verb_{method}")(target)
        except ApiError as error:
            if not self._finished:
                self.write_api_error(error)

    # Tornado passes the URL's named groups: path, version and (for /apis/...) group.
    async def get(self, path: str, version: str, group: str = "") -> None:
        await self._dispatch("get", path, version, group)

    async def post(self, path: str, version: str, group: str = "") -> None:
        await self._dispatch("post", path, version, group)

    async def put(self, path: str, version: str, group: str = "") -> None:
        await self._dispatch("put", path, version, group)

    async def patch(self, path: str, version: str, group: str = "") -> None:
        await self._dispatch("patch", path, version, group)

    async def delete(self, path: str, version: str, group: str = "") -> None:
        await self._dispatch("delete", path, version, group)

    # ---- verbs ---------------------------------------------------------------------------

    def _respond(self, target: Target, obj: dict, status: int = 200) -> None:
        if wants_table(self.request.headers.get("Accept")):
            table = to_table(
                target.resource.plural,
                [obj],
                obj["metadata"].get("resourceVersion", ""),
                self.query("includeObject", "Metadata"),
            )
            self.write_json(table, status)
        else:
            self.write_json(obj, status)

    async def _verb_get(self, target: Target) -> None:
        if target.name is None:
            if self.query("watch", "") in _TRUE:
                await self._stream_watch(target)
            else:
                self._list_collection(target)
        elif target.subresource == "log":
            await self._pod_log(target)
        elif target.subresource in (None, "status"):
            self._respond(
                target, self.store.get(target.resource.plural, target.namespace, target.name)
            )
        else:
            raise _NOT_FOUND

    def _list_collection(self, target: Target) -> None:
        items, resource_version = self.store.list(
            target.resource.plural,
            target.namespace,
            self.query("labelSelector", "") or "",
            self.query("fieldSelector", "") or "",
        )
        if wants_table(self.request.headers.get("Accept")):
            self.write_json(
                to_table(
                    target.resource.plural,
                    items,
                    resource_version,
                    self.query("includeObject", "Metadata"),
                )
            )
            return
        self.write_json(
            {
                "kind": target.resource.list_kind,
                "apiVersion": target.resource.api_version,
                "metadata": {"resourceVersion": resource_version},
                "items": items,
            }
        )

    async def _verb_post(self, target: Target) -> None:
        self._reject_dry_run()
        body = self.json_body()
        if target.subresource == "binding":
            self._respond(target, self._bind(target, body), 201)
            return
        if target.name is not None:
            raise ApiError(405, "MethodNotAllowed", "POST is only allowed on a collection")
        if target.resource.namespaced and target.namespace is None:
            raise ApiError(
                405, "MethodNotAllowed", f"create {target.resource.plural} in a namespace URL"
            )
        created = self.store.create(target.resource.plural, target.namespace, body)
        self._respond(target, created, 201)

    def _bind(self, target: Target, body: Any) -> dict:
        node = ((body or {}).get("target") or {}).get("name") if isinstance(body, dict) else None
        if not node:
            raise ApiError(422, "Invalid", 'Binding "" is invalid: target.name: Required value')
        pod = self.store.get("pods", target.namespace, target.name)
        bound = (pod.get("spec") or {}).get("nodeName")
        if bound:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on pods/binding "{target.name}": pod '
                f'{target.name} is already assigned to node "{bound}"',
            )
        self.store.patch(
            "pods",
            target.namespace,
            target.name,
            {"spec": {"nodeName": node}},
            "application/merge-patch+json",
        )
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    async def _verb_put(self, target: Target) -> None:
        self._reject_dry_run()
        if target.name is None or target.subresource not in (None, "status"):
            raise ApiError(405, "MethodNotAllowed", "PUT needs an object URL")
        replaced = self.store.replace(
            target.resource.plural,
            target.namespace,
            target.name,
            self.json_body(),
            subresource=target.subresource,
        )
        self._respond(target, replaced)

    async def _verb_patch(self, target: Target) -> None:
        self._reject_dry_run()
        if target.name is None or target.subresource not in (None, "status"):
            raise ApiError(405, "MethodNotAllowed", "PATCH needs an object URL")
        patched = self.store.patch(
            target.resource.plural,
            target.namespace,
            target.name,
            self.json_body(),
            self.request.headers.get("Content-Type", ""),
            subresource=target.subresource,
        )
        self._respond(target, patched)

    def _delete_options(self) -> tuple[int | None, str | None]:
        body = self.json_body()
        options = body if isinstance(body, dict) else {}
        grace = self.int_query("gracePeriodSeconds")
        if grace is None:
            grace = options.get("gracePeriodSeconds")
        policy = self.query("propagationPolicy") or options.get("propagationPolicy")
        if options.get("orphanDependents") is True and policy is None:
            policy = "Orphan"
        return grace, policy

    async def _verb_delete(self, target: Target) -> None:
        self._reject_dry_run()
        if target.subresource is not None:
            raise ApiError(405, "MethodNotAllowed", "DELETE is not allowed on a subresource")
        grace, policy = self._delete_options()
        plural = target.resource.plural
        if target.name is not None:
            self._respond(
                target, self.store.delete(plural, target.namespace, target.name, grace, policy)
            )
            return
        deleted = self.store.delete_collection(
            plural,
            target.namespace,
            self.query("labelSelector", "") or "",
            self.query("fieldSelector", "") or "",
            grace,
            policy,
        )
        self.write_json(
            {
                "kind": target.resource.list_kind,
                "apiVersion": target.resource.api_version,
                "metadata": {"resourceVersion": self.store.resource_version},
                "items": deleted,
            }
        )

    # ---- streaming -----------------------------------------------------------------------

    async def _write_line(self, body: dict) -> None:
        self.write(json.dumps(body, separators=(",", ":")) + "\n")
        await self.flush()

    async def _stream_watch(self, target: Target) -> None:
        timeout = self.int_query("timeoutSeconds")
        as_table = wants_table(self.request.headers.get("Accept"))
        self.set_header("Content-Type", "application/json")
        try:
            self._active_watch = self.store.watch(
                target.resource.plural,
                target.namespace,
                self.query("resourceVersion") or None,
                self.query("labelSelector", "") or "",
                self.query("fieldSelector", "") or "",
                send_initial_events=self.query("sendInitialEvents", "") in _TRUE,
            )
        except ApiError as error:
            if error.code != 410:
                raise
            # Kubernetes answers an expired watch with 200 and one ERROR event.
            await self._write_line({"type": "ERROR", "object": error.to_status()})
            self.finish()
            return
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            await self.flush()  # send headers now: clients wait for them before reading events
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                event = await self._active_watch.next_event(remaining)
                if event is None:
                    break
                if as_table and event["type"] != "BOOKMARK":
                    obj = event["object"]
                    event["object"] = to_table(
                        target.resource.plural,
                        [obj],
                        obj["metadata"].get("resourceVersion", ""),
                        self.query("includeObject", "Metadata"),
                    )
                await self._write_line(event)
        except StreamClosedError:
            return
        finally:
            self._active_watch.close()
        if not self._finished:
            self.finish()

    def on_connection_close(self) -> None:
        if self._active_watch is not None:
            self._active_watch.close()
        self._client_gone = True

    async def _pod_log(self, target: Target) -> None:
        pod = self.store.get("pods", target.namespace, target.name)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = self.query("container") or None
        if container is None:
            if len(containers) != 1:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {target.name}, choose one of: "
                    f"[{' '.join(containers)}]",
                )
            container = containers[0]
        if container not in containers:
            raise ApiError(
                400, "BadRequest", f"container {container} is not valid for pod {target.name}"
            )
        path = self.log_path(target.namespace or "", target.name or "", container)
        if not path.exists():
            if (pod.get("status") or {}).get("phase", "Pending") == "Pending":
                raise ApiError(
                    400,
                    "BadRequest",
                    f'container "{container}" in pod "{target.name}" is waiting to start: '
                    "ContainerCreating",
                )
            content = b""
        else:
            content = path.read_bytes()
        tail_lines = self.int_query("tailLines")
        if tail_lines is not None:
            lines = content.splitlines(keepends=True)
            content = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
        limit_bytes = self.int_query("limitBytes")
        if limit_bytes is not None:
            content = content[:limit_bytes]
        self.set_header("Content-Type", "text/plain")
        if self.query("follow", "") not in _TRUE:
            self.finish(content)
            return
        await self._follow_log(target, path, content)

    async def _follow_log(self, target: Target, path: Path, initial: bytes) -> None:
        """Stream the log file as it grows until the pod ends or the client leaves."""
        self._client_gone = False
        offset = path.stat().st_size if path.exists() else 0
        try:
            self.write(initial)
            await self.flush()
            while not self._client_gone:
                if path.exists() and path.stat().st_size > offset:
                    with path.open("rb") as log_file:
                        log_file.seek(offset)
                        chunk = log_file.read()
                    offset += len(chunk)
                    self.write(chunk)
                    await self.flush()
                    continue
                try:
                    pod = self.store.get("pods", target.namespace, target.name)
                except ApiError:
                    break
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    break
                await asyncio.sleep(_FOLLOW_POLL_SECONDS)
        except StreamClosedError:
            return
        if not self._finished:
            self.finish()


def make_app(store: Store, *, log_path: LogPath) -> tornado.web.Application:
    """The API server application over ``store``; see the module docstring for what it serves."""
    handler_args = {"store": store, "log_path": log_path}
    return tornado.web.Application(
        [
            (r"/version/?", VersionHandler, handler_args),
            (r"/api/?", CoreVersionsHandler, handler_args),
            (r"/apis/?", GroupListHandler, handler_args),
            (r"/apis/(?P<group>[^/]+)/?", GroupHandler, handler_args),
            (r"/api/(?P<version>v1)/?", ResourceListHandler, handler_args),
            (r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/?", ResourceListHandler, handler_args),
            (r"/api/(?P<version>v1)/(?P<path>.+)", ResourceHandler, handler_args),
            (
                r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/(?P<path>.+)",
                ResourceHandler,
                handler_args,
            ),
            (r".*", NotFoundHandler, handler_args),
        ],
        # Watches and log streams stay open; tornado must not buffer or compress them.
        compress_response=False,
    )
