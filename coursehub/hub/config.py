"""The whole hub configuration, ``configure(c, settings=None)``: a short list of steps.

``hub_config/jupyterhub_config.py`` calls it; so does the Helm chart's z2jh
``hub.extraConfig`` snippet, which runs after z2jh's own ``jupyterhub_config.py``. Settings
come from ``HubSettings.from_environ()`` unless given. Only settings coursehub cares about
are set; everything else keeps JupyterHub's and KubeSpawner's defaults, and
production-only choices (authenticator, image pull secrets, ...) stay with the Helm values.

Each ``configure_*`` step sets traits from the settings (TLJH's rule: never append or
mutate, only set). What ``c`` already holds is kept, so that z2jh's configuration survives
(its idle culler's service and role, ``hub.services``, ``hub.loadRoles``,
``singleuser.extraEnv``, ...): a step sets a list (``load_roles``, ``services``) to the
configured entries followed by coursehub's whose name is not taken, and a dict
(``load_groups``, ``tornado_settings``, ``KubeSpawner.environment``) to the configured one
updated with coursehub's keys. What the pod runs and where its home lives (``cmd``,
``start_timeout``, ``bind_url``, the home claim and its volumes) is z2jh's in production
(``singleuser.*``) and set by coursehub only in dev mode, where nothing else configures it.

Side effects beyond setting ``c`` are the dev mode's and live in ``prepare_dev_state``
(folders, formgraders' workspaces and ports, demo passwords). In production, configure only
loads the catalog and starts polling it (the hub follows edits without a restart), reads the
chart's formgrader registry (``COURSEHUB_FORMGRADERS_DIR``) and, for OIDC without explicit
endpoints, reads the provider's discovery document.

Callers may rely on: ``configure`` returns the ``CatalogSync`` it created (tests use it),
raises ``SettingsError`` for bad environment variables and lets catalog load errors of
the first load surface from ``CatalogReloader``.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import LazyConfigValue

from coursehub.catalog import CatalogError
from coursehub.catalog.groups import build_groups
from coursehub.catalog.sync import CatalogSync
from coursehub.hub.auth import (
    ADMIN_USERNAME,
    DemoAuthenticator,
    ensure_passwords,
)
from coursehub.hub.auth_settings import LTISettings, OIDCSettings
from coursehub.hub.formgrader_registry import RegistryError, read_registry
from coursehub.hub.lti import CourseLTIAuthenticator
from coursehub.hub.oidc import CourseOIDCAuthenticator
from coursehub.hub.roles import build_roles
from coursehub.hub.service_client import HubServiceClient, service_overlay_source
from coursehub.hub.services import (
    coursehub_service,
    grader_role,
    grader_services,
    hub_client,
    pod_environment,
    service_api_url,
    service_role,
    service_users_role,
)
from coursehub.hub.settings import HubSettings, SettingsError
from coursehub.hub.spawn_guard import SpawnTickets
from coursehub.hub.spawner import CourseSpawner
from coursehub.hub.token_scopes import (
    CUSTOM_SCOPES,
    ServerScopeError,
    check_oauth_client_scopes,
    server_token_scopes,
)
from coursehub.names import SERVICE_NAME, STAFF_SCOPE, service_access_scope

LOG = logging.getLogger("coursehub.hub")
DEV_ADMIN_SERVICE = "coursehub-dev-admin"
TEMPLATES = Path(__file__).resolve().parent / "templates"
# The scopes of JupyterHub's built-in admin role, for the dev admin token's service.
ADMIN_SCOPES = [
    "admin-ui",
    "admin:users",
    "admin:servers",
    "admin:services",
    "tokens",
    "admin:groups",
    "list:services",
    "read:services",
    "read:hub",
    "proxy",
    "shutdown",
    "access:services",
    "access:servers",
    "read:roles",
    "read:metrics",
    "shares",
]


def configure(c, settings: HubSettings | None = None) -> CatalogSync:
    """Set ``c`` (a traitlets Config) for coursehub; return the hub's ``CatalogSync``."""
    settings = settings or HubSettings.from_environ()
    sync = _catalog_sync(settings)
    catalog = sync.current()  # first load; also starts polling (config loads in the loop)
    dev_state = prepare_dev_state(settings, sync) if settings.is_dev else None

    configure_hub_and_proxy(c, settings)
    configure_spawner(c, settings, sync)
    services = configured_services(c, settings, catalog, dev_state)
    # The service (ours or the Helm values') may stop servers and manage course groups.
    with_service = any(entry.get("name") == SERVICE_NAME for entry in services)
    client = hub_service_client(settings) if with_service else None
    configure_services(c, services, client)
    if client is not None:
        configure_service_client(c, sync, client)
    configure_auth(c, settings, sync, client)
    configure_groups_and_roles(c, settings, catalog, services, client)
    if not with_service:
        LOG.warning(
            "COURSEHUB_SERVICE_API_TOKEN is not set and no %r service is configured: running "
            "without the coursehub service (no assignments)",
            SERVICE_NAME,
        )
    return sync


def _catalog_sync(settings: HubSettings) -> CatalogSync:
    try:
        return CatalogSync(settings.courses_dir, LOG, settings.catalog_poll_seconds)
    except CatalogError as error:
        raise SettingsError(
            f"COURSEHUB_COURSES_DIR={settings.courses_dir}: {error}; point it at the folder "
            "that holds <course-id>/course.yaml"
        ) from None


@dataclass(frozen=True)
class DevState:
    """What ``prepare_dev_state`` made ready for the dev configuration."""

    grader_ports: dict[str, int]  # course id -> the port of its formgrader


def prepare_dev_state(settings: HubSettings, sync: CatalogSync) -> DevState:
    """Dev mode's side effects, the ones z2jh's volumes and the chart take care of in
    production: the state folder; free ports for the formgraders; and the demo accounts'
    passwords, kept for every user of the catalog as it changes. The formgraders' working
    folders (course folders the coursehub service keeps) are prepared by ``coursehub dev``
    before the hub starts (``coursehub.dev.platform.prepare_grader_workspaces``): the hub
    does not import the service."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    catalog = sync.current()
    if settings.auth.kind == "demo":
        passwords = settings.demo_passwords_file
        ensure_passwords(passwords, catalog.usernames() | {ADMIN_USERNAME})
        sync.on_change(
            lambda changed: ensure_passwords(passwords, changed.usernames() | {ADMIN_USERNAME})
        )
    return DevState(grader_ports={course_id: _free_port() for course_id in catalog.courses})


def _free_port(host: str = "127.0.0.1") -> int:
    # The hub picks its managed graders' ports itself: it cannot ask coursehub dev (a layer
    # above it), and dev-mode configuration without coursehub dev lists the graders too.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def configure_hub_and_proxy(c, settings: HubSettings) -> None:
    """The hub and its proxy, run as separate processes (as in z2jh)."""
    c.JupyterHub.hub_bind_url = f"http://{settings.hub_ip}:{settings.hub_port}"
    c.JupyterHub.hub_connect_url = settings.hub_connect_url
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = settings.proxy_api_url
    c.ConfigurableHTTPProxy.auth_token = settings.proxy_auth_token
    c.JupyterHub.db_url = settings.db_url
    c.JupyterHub.cookie_secret_file = str(settings.state_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(settings.state_dir / "jupyterhub.pid")
    # A hub restart (upgrade, config change) must not stop students' servers.
    c.JupyterHub.cleanup_servers = False
    # One server per user for now: GPU quotas must hold before named servers are allowed.
    c.JupyterHub.allow_named_servers = False
    # coursehub's page.html: services listed by their display name (the Services menu).
    c.JupyterHub.template_paths = [
        str(TEMPLATES),
        *[path for path in existing(c.JupyterHub, "template_paths", []) if path != str(TEMPLATES)],
    ]
    # Show the progress page after 1 s rather than JupyterHub's 10 s: a GPU wait is exactly
    # when people need to see why. Not 0 (z2jh's): a refused profile must still fail the
    # request itself, and that refusal comes within milliseconds.
    c.JupyterHub.tornado_settings = {
        **existing(c.JupyterHub, "tornado_settings", {}),
        "slow_spawn_timeout": 1,
    }
    if settings.is_dev:
        # What the proxy's Service decides in production.
        c.JupyterHub.bind_url = settings.public_url


def configure_spawner(c, settings: HubSettings, sync: CatalogSync) -> None:
    c.JupyterHub.spawner_class = CourseSpawner
    # A plain function: traitlets deep-copies configured values, and a bound method
    # would be copied together with its CatalogSync.
    c.CourseSpawner.catalog = lambda: sync.current()
    # Staff servers above students' (the chart's PriorityClasses).
    if settings.staff_priority_class:
        c.CourseSpawner.staff_priority_class_name = settings.staff_priority_class
    if settings.student_priority_class:
        c.CourseSpawner.student_priority_class_name = settings.student_priority_class
    c.Spawner.default_url = "/lab"
    c.KubeSpawner.http_timeout = 120
    c.KubeSpawner.image_pull_policy = "IfNotPresent"
    if settings.namespace:
        c.KubeSpawner.namespace = settings.namespace
    # Every notebook pod finds the assignment exchange (the nbgrader plugin reads these).
    c.KubeSpawner.environment = {
        **existing(c.KubeSpawner, "environment", {}),
        **pod_environment(settings),
    }
    if settings.is_dev:
        _configure_dev_pods(c, settings)


def _configure_dev_pods(c, settings: HubSettings) -> None:
    """What z2jh's singleuser.* decides in production."""
    c.KubeSpawner.cmd = ["jupyterhub-singleuser"]
    c.KubeSpawner.start_timeout = settings.start_timeout
    c.KubeSpawner.storage_pvc_ensure = settings.home_pvc
    if settings.home_pvc:
        c.KubeSpawner.storage_capacity = "10Gi"
        c.KubeSpawner.storage_access_modes = ["ReadWriteOnce"]
        c.KubeSpawner.volumes = {
            "home": {"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
        }
        c.KubeSpawner.volume_mounts = {"home": {"name": "home", "mountPath": "/home/jovyan"}}
    # The dev kubelet runs pods as local processes of the current user.
    if os.geteuid() == 0:
        c.KubeSpawner.args = ["--allow-root"]


def configured_services(
    c, settings: HubSettings, catalog, dev_state: DevState | None
) -> list[dict]:
    """The configured services followed by coursehub's whose name is free: the coursehub
    service (managed in dev; the external one with its token in production), the
    formgraders (the chart's, from ``COURSEHUB_FORMGRADERS_DIR``; else in dev the hub's
    own) and the dev admin token's service."""
    ours = [service for service in (coursehub_service(settings),) if service is not None]
    if settings.formgraders_dir is not None:
        ours += grader_services(settings, catalog, {}, formgrader_registry(settings))
    elif dev_state is not None:
        ours += grader_services(settings, catalog, dev_state.grader_ports)
    if settings.admin_token:
        ours.append({"name": DEV_ADMIN_SERVICE, "api_token": settings.admin_token})
    return extend_by_name(existing(c.JupyterHub, "services", []), ours, "service", LOG)


def formgrader_registry(settings: HubSettings) -> dict[str, tuple[str, str]]:
    """The chart's formgraders (``coursehub.hub.formgrader_registry``); a malformed registry
    stops the hub with the file and field named."""
    try:
        return read_registry(settings.formgraders_dir)
    except (RegistryError, OSError) as error:
        raise SettingsError(
            f"COURSEHUB_FORMGRADERS_DIR={settings.formgraders_dir}: {error}"
        ) from None


def hub_service_client(settings: HubSettings) -> HubServiceClient:
    """The hub's client of the coursehub service, with a fresh token of its own at every
    start (dev and tests may fix it)."""
    token = settings.hub_client_token or secrets.token_urlsafe(32)
    return HubServiceClient(service_api_url(settings), token)


def configure_services(c, services: list[dict], client: HubServiceClient | None) -> None:
    """``services``, plus the hub's own identity towards the coursehub service; the
    service's pages get tokens with the staff scope of staff and admins."""
    if client is not None:
        client_service, _role = hub_client(client.token)
        services = extend_by_name(services, [client_service], "service", LOG)
        services = [_with_staff_pages(entry) for entry in services]
        configure_tokens(c)
    c.JupyterHub.services = services


def _with_staff_pages(entry: dict) -> dict:
    if entry.get("name") != SERVICE_NAME:
        return entry
    allowed = list(entry.get("oauth_client_allowed_scopes") or [])
    return {**entry, "oauth_client_allowed_scopes": sorted({*allowed, STAFF_SCOPE})}


def configure_service_client(c, sync: CatalogSync, client: HubServiceClient) -> None:
    """The spawner and the catalog reach the coursehub service through ``client``."""
    c.CourseSpawner.service_client = lambda: client
    # Imported rosters and sign-in memberships come from the service, at every poll;
    # a short timeout, so a hung service cannot hold up a refresh for long.
    overlay_client = HubServiceClient(client.base.removesuffix("/api"), client.token, 5)
    sync.set_overlay_source(service_overlay_source(overlay_client))
    c.CourseSpawner.catalog_ready = lambda: sync.wait_ready()


def configure_groups_and_roles(
    c, settings: HubSettings, catalog, services: list[dict], client: HubServiceClient | None
) -> None:
    """Course groups and the roles that hold their staff scope, applied at hub start; the
    coursehub service's roles when it runs. Reads the admins the auth step set."""
    # With the coursehub service, course groups' members are the service's to keep (it
    # adds, moves and removes them as the effective catalog changes; load_groups could
    # only add, and would bring back at every restart a student an import dropped);
    # without it, the course files' members.
    admins = existing(c.Authenticator, "admin_users", set())
    c.JupyterHub.load_groups = {
        **existing(c.JupyterHub, "load_groups", {}),
        **build_groups(catalog, members=client is None, admins=admins),
    }
    # The staff scope the roles hold (the service requires it for staff actions).
    c.JupyterHub.custom_scopes = {**existing(c.JupyterHub, "custom_scopes", {}), **CUSTOM_SCOPES}
    roles = build_roles(catalog)
    if settings.admin_token:
        roles.append(
            {
                "name": "coursehub-dev-admin",
                "description": "The admin API token of `coursehub dev` and the tests",
                "scopes": [*ADMIN_SCOPES, STAFF_SCOPE],
                "services": [DEV_ADMIN_SERVICE],
            }
        )
    if client is not None:
        _service, client_role = hub_client(client.token)
        roles += [service_role(), client_role, service_users_role(catalog)]
        roles += grader_role(services)
    c.JupyterHub.load_roles = extend_by_name(
        existing(c.JupyterHub, "load_roles", []), roles, "role", LOG
    )


SPAWNER_SECTIONS = ("CourseSpawner", "KubeSpawner", "Spawner")


def configure_tokens(c) -> None:
    """What tokens may do with the coursehub service (``coursehub.hub.token_scopes``):
    every user may call it (it decides what each may do there), servers' own tokens call
    it as their owner, and visitors' tokens left in servers cannot (the service's own
    pages get the staff scope through its ``oauth_client_allowed_scopes``)."""
    access = service_access_scope(SERVICE_NAME)
    c.JupyterHub.extra_user_scopes = [
        *[scope for scope in existing(c.JupyterHub, "extra_user_scopes", []) if scope != access],
        access,
    ]
    try:
        for section in SPAWNER_SECTIONS:
            allowed = existing(getattr(c, section), "oauth_client_allowed_scopes", [])
            if not callable(allowed):
                check_oauth_client_scopes(allowed, SERVICE_NAME)
        configured = next(
            (
                existing(getattr(c, section), "server_token_scopes", None)
                for section in SPAWNER_SECTIONS
                if "server_token_scopes" in getattr(c, section)
            ),
            None,
        )
        if callable(configured):
            chosen = configured

            async def scopes(spawner):
                own = chosen(spawner)
                own = await own if inspect.isawaitable(own) else own
                return server_token_scopes(own, SERVICE_NAME)

            c.CourseSpawner.server_token_scopes = scopes
        else:
            c.CourseSpawner.server_token_scopes = server_token_scopes(configured, SERVICE_NAME)
    except ServerScopeError as error:
        raise SettingsError(str(error)) from None


def configure_auth(
    c, settings: HubSettings, sync: CatalogSync, client: HubServiceClient | None
) -> None:
    """The authenticator ``settings.auth`` names (``coursehub.hub.auth_settings``); none
    (production without ``COURSEHUB_AUTH``) leaves the Helm values' choice alone."""
    auth = settings.auth
    if auth.kind is None:
        return
    if auth.admin_users:
        c.Authenticator.admin_users = set(auth.admin_users)
    if auth.kind == "demo":
        configure_demo(c, settings, sync)
        return
    if auth.kind == "oidc":
        section = configure_oidc(c, auth.oidc.discovered(), settings)
    else:
        section = configure_lti(c, auth.lti, settings)

    async def refresh_overlay() -> None:
        # The memberships just written, in the hub's catalog before the next spawn.
        await sync.refresh_overlay()

    # Plain functions (traitlets deep-copies configured values).
    section.catalog = lambda: sync.current()
    section.service_client = lambda: client
    section.refresh_overlay = refresh_overlay
    section.identity_bindings = {
        binding.username: [binding.issuer, binding.subject] for binding in auth.bindings
    }
    section.username_domain = auth.username_domain or ""


def configure_oidc(c, oidc: OIDCSettings, settings: HubSettings):
    """``CourseOIDCAuthenticator`` from the (discovered) OIDC settings; returns its section."""
    c.JupyterHub.authenticator_class = CourseOIDCAuthenticator
    section = c.CourseOIDCAuthenticator
    section.oidc_issuer = oidc.issuer
    section.client_id = oidc.client_id
    section.client_secret = oidc.client_secret
    section.authorize_url = oidc.authorize_url
    section.token_url = oidc.token_url
    section.jwks_url = oidc.jwks_url
    section.userdata_url = oidc.userinfo_url or ""
    callback = oidc.callback_url or (
        f"{settings.public_url}/hub/oauth_callback" if settings.is_dev else None
    )
    if callback:
        section.oauth_callback_url = callback
    section.scope = list(oidc.scopes)
    section.name_claims = list(oidc.name_claims)
    section.course_claim = oidc.course_claim
    section.course_pattern = oidc.course_pattern
    section.admin_values = list(oidc.admin_values)
    section.email_domains = list(oidc.email_domains)
    section.login_service = "your university account"
    return section


def configure_lti(c, lti: LTISettings, settings: HubSettings):
    """``CourseLTIAuthenticator`` from the LTI settings; returns its section."""
    c.JupyterHub.authenticator_class = CourseLTIAuthenticator
    section = c.CourseLTIAuthenticator
    section.issuer = lti.issuer
    section.client_id = set(lti.client_ids)
    section.authorize_url = lti.authorize_url
    section.jwks_endpoint = lti.jwks_url
    section.name_claims = list(lti.name_claims)
    section.trust_email = lti.trust_email
    # Deep links that start an environment carry a one-time ticket: the launch is
    # cross-site, and the spawner starts servers from links only when it is
    # (coursehub.hub.spawn_guard).
    tickets = SpawnTickets()
    section.spawn_tickets = lambda: tickets
    c.CourseSpawner.spawn_tickets = lambda: tickets
    if not settings.is_dev:
        # The LMS posts the launch from its own site: the hub's state and nonce
        # cookies must be sent on that cross-site POST (and inside the LMS's iframe),
        # which browsers allow only for SameSite=None; Secure cookies (HTTPS only).
        # Cross-site requests then carry the session too: the hub's state-changing
        # GET, the spawn from a link, checks Sec-Fetch-Site or a ticket instead.
        c.JupyterHub.tornado_settings = {
            **existing(c.JupyterHub, "tornado_settings", {}),
            "cookie_options": {"samesite": "None", "secure": True},
        }
    return section


def configure_demo(c, settings: HubSettings, sync: CatalogSync) -> None:
    """The demo accounts (dev only; ``prepare_dev_state`` writes their passwords)."""
    c.JupyterHub.authenticator_class = DemoAuthenticator
    c.Authenticator.admin_users = {ADMIN_USERNAME, *settings.auth.admin_users}
    c.DemoAuthenticator.passwords_file = str(settings.demo_passwords_file)

    def known_usernames() -> set[str]:
        return sync.current().usernames() | {ADMIN_USERNAME}

    c.DemoAuthenticator.known_usernames = known_usernames


def existing(section, name: str, empty):
    """A copy of what an earlier configuration (z2jh's) set for ``section.name``, or
    ``empty``. Appends made to an unset trait (a traitlets ``LazyConfigValue``) count."""
    if name not in section:
        return copy.deepcopy(empty)
    value = section[name]
    if isinstance(value, LazyConfigValue):
        return value.get_value(copy.deepcopy(empty))
    return copy.deepcopy(value)


def extend_by_name(entries: list[dict], added: list[dict], kind: str, log) -> list[dict]:
    """``entries`` followed by those of ``added`` whose name is not taken: an entry the
    Helm values define (``hub.services.coursehub``, ``hub.loadRoles``) wins over coursehub's
    default one, and JupyterHub refuses two entries with one name."""
    taken = {entry.get("name") for entry in entries}
    result = list(entries)
    for entry in added:
        if entry["name"] in taken:
            log.info("Keeping the configured %s %r instead of coursehub's", kind, entry["name"])
            continue
        taken.add(entry["name"])
        result.append(entry)
    return result
