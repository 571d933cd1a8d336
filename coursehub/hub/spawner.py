"""``CourseSpawner``: KubeSpawner with profiles, permissions and progress from the catalog.

Extension points used (all documented KubeSpawner / JupyterHub ones, nothing patched):

- ``profile_list`` is a callable: the profiles of the user's courses, built from the
  *current* catalog at every call, so catalog edits show on the next page load.
- ``apply_user_options`` (JupyterHub >= 5.3; runs before ``start``) refuses a profile the
  user may not use with ``web.HTTPError`` 403/400, which JupyterHub relays to the REST
  API caller and to the spawn page; no Kubernetes object is created. A spawn that course
  staff request for a student (``spawner.handler.current_user`` is not the owner) must
  use an environment of a course the requester teaches (``profiles.check_requester``).
- ``load_user_options`` checks again (defence in depth), then resets every trait a
  profile may override before KubeSpawner applies the chosen profile: KubeSpawner merges
  dict overrides into the current values, so without the reset a GPU node selector
  would survive into a later CPU spawn of the same spawner.
- ``load_user_options`` also adds the course's reachable-students group to the server's
  ``oauth_access_scopes`` so course staff's API tokens are accepted by the server (none
  for staff of any course and admins; ``coursehub.hub.roles.server_access_scopes`` says
  why).
- ``load_user_options`` sets ``priority_class_name`` to the staff class for the course's
  staff and admins and to the student class for students, so that under GPU pressure the
  scheduler preempts a student's server before a staff member's.
- ``options_from_query`` starts a server from ``GET /hub/spawn?profile=…`` only for a
  navigation from the hub's own pages or by hand (``Sec-Fetch-Site: same-origin|none``) or
  with the one-time ticket of an LTI launch's deep link; a link or iframe on another site
  gets the spawn form, environment preselected, to confirm (``coursehub.hub.spawn_guard``).
- ``progress`` rewrites KubeSpawner's raw event messages into plain sentences
  (``coursehub.hub.progress``).
- ``start`` asks the coursehub service to admit a GPU environment first (course cap,
  weekly budget; ``coursehub.gpu``) and reports the server's start and stop, so the usage
  ledger holds every GPU session. A refusal is an HTTP error with a sentence for the user,
  raised before any Kubernetes object exists.
"""

from __future__ import annotations

import asyncio
import copy

from jupyterhub import orm
from kubespawner import KubeSpawner
from tornado import web
from traitlets import Callable, Float, Unicode, default

from coursehub.catalog.entitlements import (
    Entitlement,
    ProfileRefused,
    entitlements,
    resolve_profile,
)
from coursehub.gpu.availability import Line, cluster_counts, describe
from coursehub.gpu.nodes import count_gpus
from coursehub.hub.profiles import (
    PROFILE_TRAITS,
    build_profiles,
    check_requester,
    priority_class,
)
from coursehub.hub.progress import translate_event, waits_for_gpu
from coursehub.hub.roles import server_access_scopes
from coursehub.hub.service_client import ServiceUnavailable
from coursehub.hub.spawn_form import render_spawn_form
from coursehub.hub.spawn_guard import TICKET_ARGUMENT, starts_from_query


def _catalog_not_configured():
    raise RuntimeError(
        "CourseSpawner.catalog is not set: call coursehub.hub.config.configure(c) "
        "in jupyterhub_config.py"
    )


def course_profiles(spawner: CourseSpawner) -> list[dict]:
    """``profile_list`` callable: the profiles the spawner's user may start now."""
    return build_profiles(spawner.catalog(), spawner.user.name, bool(spawner.user.admin))


async def spawn_form(spawner: CourseSpawner) -> str:
    """``options_form`` callable: the user's environments with live GPU availability."""
    profiles = course_profiles(spawner)
    availability = await spawner.gpu_availability()
    # A link's environment (shown to confirm it), else the last one started.
    requested, spawner.requested_profile = spawner.requested_profile, None
    previous = requested or (spawner.user_options or {}).get("profile")
    return render_spawn_form(profiles, availability, previous)


class SpawnNeedsConfirmation(Exception):
    """A spawn link the person must confirm. Not an HTTP error, so JupyterHub shows the
    spawn form (status 200) with this message above it instead of an error page."""

    def __init__(self, message: str):
        super().__init__(message)
        # spawn.html shows it as "Error: <message>" (JupyterHub 6.1 passes an HTML message
        # under a name its template does not read, so plain text it is).
        self.jupyterhub_message = message


async def refuse_foreign_profiles(spawner: CourseSpawner, user_options: dict) -> None:
    """``apply_user_options`` hook: raise ``web.HTTPError`` for a profile the user may
    not start (called by JupyterHub before ``Spawner.start``). Waits for the course
    memberships first if the hub has not loaded them yet (just after a restart)."""
    ready = spawner.catalog_ready()
    if ready is not None:
        await ready
    spawner.entitlement = spawner.resolve_entitlement(user_options)


class CourseSpawner(KubeSpawner):
    """A KubeSpawner whose profiles, labels and refusals come from the course catalog."""

    catalog = Callable(
        default_value=_catalog_not_configured,
        help="""Called without arguments; returns the current
        ``coursehub.catalog.Catalog``. Set by ``coursehub.hub.config.configure`` to read
        the hub's ``CatalogSync``. (A function, not the catalog itself, because traitlets
        deep-copies configured values.)""",
    ).tag(config=True)

    catalog_ready = Callable(
        default_value=lambda: None,
        help="""Called without arguments before a spawn is decided; may return an awaitable
        that completes once the catalog's membership overlay (imported rosters, sign-in
        memberships) has been loaded at least once. Set by ``configure``.""",
    ).tag(config=True)

    service_client = Callable(
        default_value=lambda: None,
        help="""Called without arguments; returns the ``HubServiceClient`` the hub uses to
        reach the coursehub service, or None when the hub runs without the service. Set by
        ``configure``.""",
    ).tag(config=True)

    staff_priority_class_name = Unicode(
        "",
        help="""PriorityClass of servers that course staff (instructors and TAs of the
        course whose environment they start) and admins start. Empty: KubeSpawner's
        ``priority_class_name``. Set by ``configure`` from COURSEHUB_STAFF_PRIORITY_CLASS.""",
    ).tag(config=True)

    student_priority_class_name = Unicode(
        "",
        help="""PriorityClass of servers that students start. Empty: KubeSpawner's
        ``priority_class_name``. Set by ``configure`` from
        COURSEHUB_STUDENT_PRIORITY_CLASS.""",
    ).tag(config=True)

    spawn_tickets = Callable(
        default_value=lambda: None,
        help="""Called without arguments; returns the hub's ``SpawnTickets`` (the one-time
        tickets of LTI launches' deep links), or None. Set by ``configure`` in LTI mode.""",
    ).tag(config=True)

    gpu_queue_poll_seconds = Float(
        2.0,
        help="""How often a spawn waiting in its course's GPU queue asks the coursehub
        service again whether its turn has come.""",
    ).tag(config=True)

    entitlement: Entitlement | None = None
    # While the spawn waits in its course's GPU queue: the sentence progress() shows.
    queue_message: str | None = None
    # The profile a spawn link asked for, preselected on the form shown instead.
    requested_profile: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._configured_profile_traits = {
            name: copy.deepcopy(getattr(self, name))
            for name in (*PROFILE_TRAITS, "priority_class_name")
        }

    @default("profile_list")
    def _default_profile_list(self):
        return course_profiles

    @default("options_form")
    def _default_options_form(self):
        return spawn_form

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return refuse_foreign_profiles

    def options_from_query(self, query_data):
        """``GET /hub/spawn?profile=…``: start only what the person meant to start (see the
        module's docstring); otherwise ``SpawnNeedsConfirmation``, and the form."""
        data = dict(query_data)
        ticket = (data.pop(TICKET_ARGUMENT, None) or [None])[0]
        profile = (data.get("profile") or [None])[0]
        request = getattr(self.handler, "request", None)
        fetch_site = request.headers.get("Sec-Fetch-Site") if request is not None else None
        tickets = self.spawn_tickets()
        redeemed = tickets is not None and tickets.redeem(self.user.name, profile, ticket)
        if not starts_from_query(fetch_site, redeemed):
            self.requested_profile = profile
            self.log.warning(
                "Not starting %r for %s from a link (Sec-Fetch-Site: %s, %s): showing the "
                "spawn form to confirm",
                profile,
                self.user.name,
                fetch_site or "absent",
                "a ticket that is not valid" if ticket else "no launch ticket",
            )
            found = self.catalog().profile(profile) if isinstance(profile, str) else None
            what = f"“{found[1].display_name}”" if found else "a server"
            raise SpawnNeedsConfirmation(
                f"this link did not start {what} by itself: servers start from links only "
                "on this hub's own pages. Check the environment below and press Start if "
                "you want it."
            )
        return super().options_from_query(data)

    def resolve_entitlement(self, user_options: dict | None) -> Entitlement:
        """The course environment ``user_options`` select for this user, or
        ``web.HTTPError`` (403 not enrolled, 400 unknown) with a message for the user."""
        slug = (user_options or {}).get("profile")
        if slug is not None and not isinstance(slug, str):
            raise _http_error(400, f"'profile' must be a string, not {slug!r}.")
        try:
            entitlement = resolve_profile(
                self.catalog(), self.user.name, bool(self.user.admin), slug
            )
            check_requester(entitlement, self.user.name, *self.spawn_requester())
            return entitlement
        except ProfileRefused as refusal:
            self.log.warning(
                "Refusing spawn of %r for %s: %s", slug, self.user.name, refusal.message
            )
            raise _http_error(refusal.status, refusal.message) from None

    def spawn_requester(self) -> tuple[str | None, bool]:
        """``(name, is admin)`` of the user whose request starts this spawn; ``(None,
        False)`` for the owner's own spawn, a service's (its hub scopes decide) or none."""
        handler = self.handler
        requester = getattr(handler, "current_user", None) if handler is not None else None
        if requester is None or isinstance(requester, orm.Service):
            return None, False
        return requester.name, bool(requester.admin)

    def reset_profile_traits(self) -> None:
        """Put every trait a profile or the user's role may change back to its configured
        value."""
        for name, value in self._configured_profile_traits.items():
            setattr(self, name, copy.deepcopy(value))

    async def load_user_options(self):
        self.entitlement = self.resolve_entitlement(self.user_options)
        self.reset_profile_traits()
        await super().load_user_options()
        chosen = priority_class(
            self.entitlement,
            bool(self.user.admin),
            self.staff_priority_class_name,
            self.student_priority_class_name,
        )
        if chosen:
            self.priority_class_name = chosen
        self.oauth_access_scopes = self._default_access_scopes() + server_access_scopes(
            self.catalog(), self.user.name, bool(self.user.admin)
        )

    async def start(self):
        try:
            admitted = await self.admit_gpus()
        except asyncio.CancelledError:  # start_timeout while waiting in the GPU queue
            await self.report_session("stopped", reason="start_failed")
            raise
        try:
            url = await super().start()
        except BaseException:
            if admitted:
                await self.report_session("stopped", reason="start_failed")
            raise
        if admitted:
            await self.report_session("started")
        return url

    async def stop(self, now=False):
        await super().stop(now=now)
        # Always: after a hub restart the spawner no longer knows whether it ran a GPU
        # environment; the service closes the server's open session if there is one.
        await self.report_session("stopped", reason="stopped")

    async def admit_gpus(self) -> bool:
        """Ask the service to admit this spawn's GPUs; True when a session was opened.
        Raises ``web.HTTPError`` with the service's sentence when refused, and 503 when
        the service cannot be asked (quotas hold even then)."""
        entitlement = self.entitlement
        if entitlement is None or not entitlement.environment.gpu_count:
            return False
        client = self.service_client()
        if client is None:
            self.log.warning(
                "No coursehub service: starting %s for %s without GPU quotas",
                entitlement.slug,
                self.user.name,
            )
            return False
        request = {
            "username": self.user.name,
            "server_name": self.name or "",
            "course": entitlement.course.id,
            "environment": entitlement.environment.slug,
            "admin": bool(self.user.admin),
        }
        try:
            while True:
                answer = await client.call("POST", "gpu/admissions", request)
                if not answer.get("queued"):
                    break
                # Past the course's cap in a course that queues: wait for our turn (bounded
                # by start_timeout, like any start); progress() shows the place.
                self.queue_message = answer["message"]
                await asyncio.sleep(self.gpu_queue_poll_seconds)
        except ServiceUnavailable as error:
            if error.status in (403, 429):
                self.log.info("GPU spawn of %s refused: %s", self.user.name, error.message)
                raise _http_error(error.status, error.message) from None
            self.log.error("GPU admission for %s failed: %s", self.user.name, error.message)
            raise _http_error(
                503,
                "GPU servers cannot start right now: the GPU quota service does not answer. "
                "Try again in a minute, or start a CPU environment.",
            ) from None
        finally:
            self.queue_message = None
        return True

    async def report_session(self, event: str, reason: str | None = None) -> None:
        client = self.service_client()
        if client is None:
            return
        body = {"username": self.user.name, "server_name": self.name or ""}
        if reason is not None:
            body["reason"] = reason
        try:
            await client.call("POST", f"gpu/sessions/{event}", body)
        except ServiceUnavailable as error:
            # The service's enforcer reconciles with the hub and closes what is gone.
            self.log.warning(
                "Could not report %s of %s's server to the GPU ledger: %s",
                event,
                self.user.name,
                error.message,
            )

    async def gpu_availability(self) -> dict[str, list[Line]]:
        """Per GPU profile slug the user may start, the spawn page's availability lines.
        Missing numbers (cluster or service unreachable) become "unknown" lines."""
        gpu_entitlements = [
            item
            for item in entitlements(self.catalog(), self.user.name, bool(self.user.admin))
            if item.environment.gpu_count
        ]
        if not gpu_entitlements:
            return {}
        nodes = pods = None
        try:
            timeout = self.k8s_api_request_timeout
            serialize = self.api.api_client.sanitize_for_serialization
            nodes = serialize(await self.api.list_node(_request_timeout=timeout))["items"]
            pods = serialize(
                await self.api.list_namespaced_pod(self.namespace, _request_timeout=timeout)
            )["items"]
        except Exception as exc:  # the form must render without the numbers
            self.log.warning("Could not read nodes and pods for GPU availability: %s", exc)
        courses = None
        client = self.service_client()
        if client is not None:
            try:
                query = {"username": self.user.name, "admin": "1" if self.user.admin else None}
                answer = await client.call("GET", "gpu/availability", query=query)
                courses = answer["courses"]
            except ServiceUnavailable as error:
                self.log.warning("Could not read GPU quotas: %s", error.message)
        result = {}
        for item in gpu_entitlements:
            cluster = None
            if nodes is not None:
                cluster = cluster_counts(nodes, pods, item.environment)
            numbers = (courses or {}).get(item.course.id) if courses is not None else None
            if courses is not None and numbers is None:
                numbers = {}
            result[item.slug] = describe(item.course, item.environment, cluster, numbers)
        return result

    async def progress(self):
        shown = None
        while self.queue_message is not None:
            if self.queue_message != shown:
                shown = self.queue_message
                yield {"progress": 5, "message": shown}
            await asyncio.sleep(0.5)
        gpus_in_cluster: int | None = None
        environment = self.entitlement.environment if self.entitlement else None
        async for event in super().progress():
            raw = event.get("raw_event")
            if raw:
                if gpus_in_cluster is None and waits_for_gpu(raw, environment):
                    gpus_in_cluster = await self._count_gpus_in_cluster()
                event = {**event, "message": translate_event(raw, environment, gpus_in_cluster)}
            yield event

    async def _count_gpus_in_cluster(self) -> int | None:
        environment = self.entitlement.environment if self.entitlement else None
        if environment is None or environment.gpu is None:
            return None
        try:
            nodes = await self.api.list_node(_request_timeout=self.k8s_api_request_timeout)
        except Exception as exc:  # progress must go on without the count
            self.log.warning("Could not list nodes to count GPUs: %s", exc)
            return None
        items = self.api.api_client.sanitize_for_serialization(nodes).get("items", [])
        return count_gpus(items, environment.gpu.resource, environment.gpu.product)


def _http_error(status: int, message: str) -> web.HTTPError:
    error = web.HTTPError(status, "%s", message)
    # JupyterHub shows jupyterhub_message to the user (API JSON and spawn page).
    error.jupyterhub_message = message
    return error
