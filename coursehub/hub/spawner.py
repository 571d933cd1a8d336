"""``CourseSpawner``: KubeSpawner with profiles, permissions and progress from the catalog.

Extension points used (all documented KubeSpawner / JupyterHub ones, nothing patched):

- ``profile_list`` is a callable: the profiles of the user's courses, built from the
  *current* catalog at every call, so catalog edits show on the next page load.
- ``apply_user_options`` (JupyterHub >= 5.3; runs before ``start``) refuses a profile the
  user may not use with ``web.HTTPError`` 403/400, which JupyterHub relays to the REST
  API caller and to the spawn page; no Kubernetes object is created.
- ``load_user_options`` checks again (defence in depth), then resets every trait a
  profile may override before KubeSpawner applies the chosen profile: KubeSpawner merges
  dict overrides into the current values, so without the reset a GPU node selector
  would survive into a later CPU spawn of the same spawner.
- ``load_user_options`` also adds the course students' group to the server's
  ``oauth_access_scopes`` so course staff's API tokens are accepted by the server
  (``coursehub.hub.roles.server_access_scopes`` says why).
- ``load_user_options`` sets ``priority_class_name`` to the staff class for the course's
  staff and admins and to the student class for students, so that under GPU pressure the
  scheduler preempts a student's server before a staff member's.
- ``progress`` rewrites KubeSpawner's raw event messages into plain sentences
  (``coursehub.hub.progress``).
"""

from __future__ import annotations

import copy

from kubespawner import KubeSpawner
from tornado import web
from traitlets import Callable, Unicode, default

from coursehub.hub.profiles import (
    PROFILE_TRAITS,
    Entitlement,
    ProfileRefused,
    build_profiles,
    priority_class,
    resolve_profile,
)
from coursehub.hub.progress import count_gpus, translate_event, waits_for_gpu
from coursehub.hub.roles import server_access_scopes


def _catalog_not_configured():
    raise RuntimeError(
        "CourseSpawner.catalog is not set: call coursehub.hub.config.configure(c) "
        "in jupyterhub_config.py"
    )


def course_profiles(spawner: CourseSpawner) -> list[dict]:
    """``profile_list`` callable: the profiles the spawner's user may start now."""
    return build_profiles(spawner.catalog(), spawner.user.name, bool(spawner.user.admin))


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

    entitlement: Entitlement | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._configured_profile_traits = {
            name: copy.deepcopy(getattr(self, name))
            for name in (*PROFILE_TRAITS, "priority_class_name")
        }

    @default("profile_list")
    def _default_profile_list(self):
        return course_profiles

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return refuse_foreign_profiles

    def resolve_entitlement(self, user_options: dict | None) -> Entitlement:
        """The course environment ``user_options`` select for this user, or
        ``web.HTTPError`` (403 not enrolled, 400 unknown) with a message for the user."""
        slug = (user_options or {}).get("profile")
        if slug is not None and not isinstance(slug, str):
            raise _http_error(400, f"'profile' must be a string, not {slug!r}.")
        try:
            return resolve_profile(self.catalog(), self.user.name, bool(self.user.admin), slug)
        except ProfileRefused as refusal:
            self.log.warning(
                "Refusing spawn of %r for %s: %s", slug, self.user.name, refusal.message
            )
            raise _http_error(refusal.status, refusal.message) from None

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
            self.catalog(), self.user.name
        )

    async def progress(self):
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
