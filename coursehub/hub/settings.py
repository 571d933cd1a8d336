"""Hub settings: read once from environment variables, then passed around as a value.

``coursehub dev`` (and in production the Helm chart) sets the variables; nothing reads
them at import time. The variables, their defaults in dev and production and their help
are data in ``coursehub.envvars`` (owner ``HubSettings``; sign-in: ``AuthSettings``), the
table in docs/hub.md is generated from it, and ``HubSettings.from_environ`` raises
``SettingsError`` naming the variable at fault and what it accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from coursehub.envvars import Environment, SettingsError
from coursehub.hub.auth_settings import AuthSettings

__all__ = ["SERVICE_PASSTHROUGH", "HubSettings", "SettingsError"]

# Dev: variables of the managed service's own that the hub hands on to it.
SERVICE_PASSTHROUGH = ("COURSEHUB_MAX_", "COURSEHUB_GPU_", "COURSEHUB_DEV_CLOCK_", "COURSEHUB_LMS_")


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
    gpu_telemetry_seconds: float
    start_timeout: int
    home_pvc: bool
    kubeconfig: Path | None
    service_url: str = "http://coursehub:8090"
    service_data_dir: Path | None = None
    service_db_url: str | None = field(default=None, repr=False)
    service_api_token: str | None = field(default=None, repr=False)
    # The chart's formgrader Secret (coursehub.hub.formgrader_registry); in dev it replaces
    # the formgraders the hub runs (tests run the chart's command against a dev hub).
    formgraders_dir: Path | None = None
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
        environ = os.environ if environ is None else environ
        mode = Environment(environ, "HubSettings")("COURSEHUB_MODE")
        dev = mode == "dev"
        env = Environment(environ, "HubSettings", dev)
        state_dir = env("COURSEHUB_STATE_DIR").absolute()
        hub_ip = env("COURSEHUB_HUB_IP")
        hub_port = env("COURSEHUB_HUB_PORT")
        connect_host = "127.0.0.1" if hub_ip in ("0.0.0.0", "") else hub_ip
        # In production, pods and the proxy reach the hub and the proxy API through their
        # Kubernetes services (z2jh's names); loopback would only work on one machine.
        default_connect = f"http://{connect_host}:{hub_port}" if dev else f"http://hub:{hub_port}"
        service_port = env("COURSEHUB_SERVICE_PORT")
        default_service = (
            f"http://{connect_host}:{service_port}" if dev else "http://coursehub:8090"
        )
        kubeconfig = env("KUBECONFIG")
        return cls(
            mode=mode,
            courses_dir=env("COURSEHUB_COURSES_DIR").absolute(),
            state_dir=state_dir,
            public_url=env("COURSEHUB_PUBLIC_URL"),
            hub_ip=hub_ip,
            hub_port=hub_port,
            hub_connect_url=env("COURSEHUB_HUB_CONNECT_URL", default_connect),
            proxy_api_url=env("COURSEHUB_PROXY_API_URL"),
            proxy_auth_token=env("CONFIGPROXY_AUTH_TOKEN"),
            admin_token=env("COURSEHUB_DEV_ADMIN_TOKEN"),
            namespace=env("COURSEHUB_NAMESPACE"),
            db_url=env("COURSEHUB_DB_URL", f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"),
            catalog_poll_seconds=env("COURSEHUB_CATALOG_POLL_SECONDS"),
            gpu_telemetry_seconds=env("COURSEHUB_GPU_TELEMETRY_SECONDS"),
            start_timeout=env("COURSEHUB_START_TIMEOUT"),
            home_pvc=env("COURSEHUB_HOME_PVC"),
            kubeconfig=kubeconfig,
            service_url=env("COURSEHUB_SERVICE_URL", default_service),
            # Dev: handed on to the service the hub runs (in production it has its own).
            service_data_dir=(
                env("COURSEHUB_SERVICE_DATA_DIR", str(state_dir / "service")).absolute()
                if dev
                else None
            ),
            service_db_url=env("COURSEHUB_SERVICE_DB_URL") if dev else None,
            # Production without a token: the hub runs without assignments (the chart's
            # service.enabled=false); the hub logs that.
            service_api_token=env("COURSEHUB_SERVICE_API_TOKEN"),
            formgraders_dir=env("COURSEHUB_FORMGRADERS_DIR"),
            service_limits=tuple(
                sorted((k, v) for k, v in environ.items() if k.startswith(SERVICE_PASSTHROUGH))
            ),
            staff_priority_class=env("COURSEHUB_STAFF_PRIORITY_CLASS"),
            student_priority_class=env("COURSEHUB_STUDENT_PRIORITY_CLASS"),
            hub_client_token=env("COURSEHUB_DEV_HUB_CLIENT_TOKEN"),
            auth=AuthSettings.from_environ(environ, dev),
        )
