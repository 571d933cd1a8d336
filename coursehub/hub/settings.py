"""Hub settings: read once from environment variables, then passed around as a value.

``coursehub dev`` (and in production the Helm chart) sets the variables; nothing reads
them at import time. ``HubSettings.from_environ`` raises ``SettingsError`` naming the
variable at fault and what it accepts.

Variables (defaults for dev / production):

- ``COURSEHUB_MODE``: ``dev`` or ``production`` (default ``production``).
- ``COURSEHUB_COURSES_DIR``: the catalog folder (``./courses`` / ``/etc/coursehub/courses``).
- ``COURSEHUB_STATE_DIR``: hub database, cookie secret, demo passwords
  (``./.coursehub-dev`` / ``/srv/jupyterhub``).
- ``COURSEHUB_PUBLIC_URL``: dev only, the URL users open, i.e. the proxy
  (``http://127.0.0.1:8000``; in production the proxy's Service or ingress decides).
- ``COURSEHUB_HUB_IP``, ``COURSEHUB_HUB_PORT``: where the hub listens
  (``127.0.0.1`` / ``0.0.0.0``; port ``8081``).
- ``COURSEHUB_HUB_CONNECT_URL``: how pods and the proxy reach the hub
  (``http://<hub ip>:<hub port>`` / ``http://hub:<hub port>``, z2jh's service).
- ``COURSEHUB_PROXY_API_URL``: configurable-http-proxy's API (``http://127.0.0.1:8001`` /
  ``http://proxy-api:8001``).
- ``CONFIGPROXY_AUTH_TOKEN``: the proxy API token, shared with the proxy (required).
- ``COURSEHUB_DEV_ADMIN_TOKEN``: an admin API token the hub accepts (dev and tests only:
  refused in production mode).
- ``COURSEHUB_DEV_HUB_CLIENT_TOKEN``: the token the hub process uses towards the coursehub
  service (identity ``coursehub-hub``), so tests can act as the hub (dev and tests only;
  otherwise, and always in production, a new random token at every hub start).
- ``COURSEHUB_NAMESPACE``: namespace of user pods (``default`` / the hub's own).
- ``COURSEHUB_DB_URL``: hub database (``sqlite:///<state>/jupyterhub.sqlite``).
- ``COURSEHUB_CATALOG_POLL_SECONDS``: how often the hub checks the catalog (``2``).
- ``COURSEHUB_START_TIMEOUT``: dev only, seconds a spawn may take (600; in production
  z2jh's ``singleuser.startTimeout``, which the chart sets to 900).
- ``COURSEHUB_HOME_PVC``: dev only, ``1`` for a home PVC per user (``1``; the dev cluster
  keeps each claim as a folder, so work survives a server restart there too; in production
  z2jh's ``singleuser.storage``).
- ``COURSEHUB_STAFF_PRIORITY_CLASS``, ``COURSEHUB_STUDENT_PRIORITY_CLASS``: the
  PriorityClasses of servers started by course staff and admins, and by students (unset:
  none; the chart passes its ``priorityClasses`` names).
- ``COURSEHUB_SERVICE_URL``: how pods and the hub reach the coursehub service, without
  its prefix (dev: ``http://127.0.0.1:<COURSEHUB_SERVICE_PORT>``, where the hub starts it as
  a managed service; production: ``http://coursehub:8090``, its own Deployment).
- ``COURSEHUB_SERVICE_PORT``: dev only, the port of the managed service (``8090``).
- ``COURSEHUB_SERVICE_DATA_DIR``, ``COURSEHUB_SERVICE_DB_URL``, ``COURSEHUB_MAX_*``,
  ``COURSEHUB_GPU_*``, ``COURSEHUB_DEV_CLOCK_*``: dev only, passed to the managed service
  (``<state>/service``, SQLite in it); see ``coursehub.service.settings``.
- ``COURSEHUB_SERVICE_API_TOKEN``: production only, the external service's hub API token
  (from a Secret); unset, the hub runs without the service (no assignments).
- ``COURSEHUB_AUTH`` and ``COURSEHUB_OIDC_*``, ``COURSEHUB_LTI_*``,
  ``COURSEHUB_ADMIN_USERS``, ``COURSEHUB_IDENTITY_BINDINGS``, ``COURSEHUB_USERNAME_DOMAIN``:
  sign-in (``coursehub.hub.auth_settings``; dev: the demo
  accounts; production: unset leaves the authenticator to the Helm values' ``hub.config``).
- ``KUBECONFIG``: the cluster's kubeconfig (dev: required, the dev cluster's one;
  production: in-cluster config).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from coursehub.hub.auth_settings import AuthSettings, AuthSettingsError

# A Kubernetes object name (DNS-1123 subdomain), as PriorityClass names must be.
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


# Dev: variables of the managed service's own that the hub hands on to it.
SERVICE_PASSTHROUGH = ("COURSEHUB_MAX_", "COURSEHUB_GPU_", "COURSEHUB_DEV_CLOCK_")


class SettingsError(ValueError):
    """An environment variable with a value the hub cannot use."""


@dataclass(frozen=True)
class HubSettings:
    mode: Literal["dev", "production"]
    courses_dir: Path
    state_dir: Path
    public_url: str
    hub_ip: str
    hub_port: int
    hub_connect_url: str
    proxy_api_url: str
    # Secrets stay out of repr() (and so out of logs and tracebacks); a database URL may
    # carry a password.
    proxy_auth_token: str = field(repr=False)
    admin_token: str | None = field(repr=False)
    namespace: str | None
    db_url: str = field(repr=False)
    catalog_poll_seconds: float
    start_timeout: int
    home_pvc: bool
    kubeconfig: Path | None
    service_url: str = "http://coursehub:8090"
    service_data_dir: Path | None = None
    service_db_url: str | None = field(default=None, repr=False)
    service_api_token: str | None = field(default=None, repr=False)
    # Dev: the service's own settings (upload limits, GPU enforcement, the tests' clock),
    # handed on to the managed service.
    service_limits: tuple[tuple[str, str], ...] = ()
    staff_priority_class: str | None = None
    student_priority_class: str | None = None
    hub_client_token: str | None = field(default=None, repr=False)
    auth: AuthSettings = field(default_factory=lambda: AuthSettings(kind=None))

    @property
    def is_dev(self) -> bool:
        return self.mode == "dev"

    @property
    def demo_passwords_file(self) -> Path:
        return self.state_dir / "demo-passwords.json"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        mode = env.get("COURSEHUB_MODE", "production")
        if mode not in ("dev", "production"):
            raise SettingsError(f"COURSEHUB_MODE={mode!r}: use 'dev' or 'production'")
        dev = mode == "dev"
        state_dir = Path(
            env.get("COURSEHUB_STATE_DIR") or (".coursehub-dev" if dev else "/srv/jupyterhub")
        ).absolute()
        courses_dir = Path(
            env.get("COURSEHUB_COURSES_DIR") or ("courses" if dev else "/etc/coursehub/courses")
        ).absolute()
        hub_ip = env.get("COURSEHUB_HUB_IP") or ("127.0.0.1" if dev else "0.0.0.0")
        hub_port = _int(env, "COURSEHUB_HUB_PORT", 8081, minimum=1)
        connect_host = "127.0.0.1" if hub_ip in ("0.0.0.0", "") else hub_ip
        # In production, pods and the proxy reach the hub and the proxy API through their
        # Kubernetes services (z2jh's names); loopback would only work on one machine.
        default_connect = f"http://{connect_host}:{hub_port}" if dev else f"http://hub:{hub_port}"
        default_proxy_api = "http://127.0.0.1:8001" if dev else "http://proxy-api:8001"
        admin_token = env.get("COURSEHUB_DEV_ADMIN_TOKEN") or None
        if admin_token and not dev:
            raise SettingsError(
                "COURSEHUB_DEV_ADMIN_TOKEN is set but COURSEHUB_MODE is 'production': an admin "
                "token from an environment variable is for development only; unset it"
            )
        hub_client_token = env.get("COURSEHUB_DEV_HUB_CLIENT_TOKEN") or None
        if hub_client_token and not dev:
            raise SettingsError(
                "COURSEHUB_DEV_HUB_CLIENT_TOKEN is set but COURSEHUB_MODE is 'production': the "
                "hub's token towards the service is chosen at each start there; unset it"
            )
        proxy_auth_token = env.get("CONFIGPROXY_AUTH_TOKEN", "")
        if not proxy_auth_token:
            raise SettingsError(
                "CONFIGPROXY_AUTH_TOKEN is not set: the hub needs the token of the "
                "configurable-http-proxy API (coursehub dev and the Helm chart set it)"
            )
        kubeconfig = env.get("KUBECONFIG")
        if dev and not kubeconfig:
            raise SettingsError(
                "KUBECONFIG is not set: in dev mode it must name the dev cluster's kubeconfig "
                "(<state-dir>/kubeconfig, written by `coursehub devcluster up`)"
            )
        service_port = _int(env, "COURSEHUB_SERVICE_PORT", 8090, minimum=1)
        default_service = (
            f"http://{connect_host}:{service_port}" if dev else "http://coursehub:8090"
        )
        service_data_dir = Path(
            env.get("COURSEHUB_SERVICE_DATA_DIR") or state_dir / "service"
        ).absolute()
        # Production without a token: the hub runs without assignments (the chart's
        # service.enabled=false); the hub logs that.
        service_api_token = env.get("COURSEHUB_SERVICE_API_TOKEN") or None
        try:
            auth = AuthSettings.from_environ(env, dev)
        except AuthSettingsError as error:
            raise SettingsError(str(error)) from None
        return cls(
            mode=mode,
            courses_dir=courses_dir,
            state_dir=state_dir,
            public_url=_url(env, "COURSEHUB_PUBLIC_URL", "http://127.0.0.1:8000"),
            hub_ip=hub_ip,
            hub_port=hub_port,
            hub_connect_url=_url(env, "COURSEHUB_HUB_CONNECT_URL", default_connect),
            proxy_api_url=_url(env, "COURSEHUB_PROXY_API_URL", default_proxy_api),
            proxy_auth_token=proxy_auth_token,
            admin_token=admin_token,
            namespace=env.get("COURSEHUB_NAMESPACE") or ("default" if dev else None),
            db_url=env.get("COURSEHUB_DB_URL") or f"sqlite:///{state_dir / 'jupyterhub.sqlite'}",
            catalog_poll_seconds=_float(env, "COURSEHUB_CATALOG_POLL_SECONDS", 2.0),
            start_timeout=_int(env, "COURSEHUB_START_TIMEOUT", 600 if dev else 900, minimum=1),
            home_pvc=_bool(env, "COURSEHUB_HOME_PVC", True),
            kubeconfig=Path(kubeconfig) if kubeconfig else None,
            service_url=_url(env, "COURSEHUB_SERVICE_URL", default_service),
            service_data_dir=service_data_dir if dev else None,
            service_db_url=(env.get("COURSEHUB_SERVICE_DB_URL") or None) if dev else None,
            service_api_token=service_api_token,
            service_limits=tuple(
                sorted((k, v) for k, v in env.items() if k.startswith(SERVICE_PASSTHROUGH))
            ),
            staff_priority_class=_k8s_name(env, "COURSEHUB_STAFF_PRIORITY_CLASS"),
            student_priority_class=_k8s_name(env, "COURSEHUB_STUDENT_PRIORITY_CLASS"),
            hub_client_token=hub_client_token,
            auth=auth,
        )


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be more than 0")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if not raw:
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise SettingsError(f"{name}={raw!r}: use 1 or 0")


def _k8s_name(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if len(raw) > 253 or not K8S_NAME.fullmatch(raw):
        raise SettingsError(
            f"{name}={raw!r} is not a Kubernetes object name (lower-case letters, digits, "
            "'-' and '.'), such as coursehub-staff"
        )
    return raw


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"{name}={raw!r} is not an http(s) URL such as {default}")
    return raw.rstrip("/")
