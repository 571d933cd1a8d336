"""Service settings, read once from environment variables.

The variables (the database, the data folder, upload limits, how the hub reaches the
service and it the hub, the GPU enforcement period, who may scrape metrics, the tests'
clock) are data in ``coursehub.envvars`` (owner ``ServiceSettings``), listed in docs/assignments.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from coursehub.envvars import Environment, SettingsError
from coursehub.exchange.archive import MB, Limits

# The one error of every settings object; the old name stays importable.
ServiceSettingsError = SettingsError


@dataclass(frozen=True)
class ServiceSettings:
    # Secrets stay out of repr(): the URL may carry the database password.
    db_url: str = field(repr=False)
    data_dir: Path
    courses_dir: Path
    prefix: str
    bind_host: str
    bind_port: int
    limits: Limits
    catalog_poll_seconds: float = 2.0
    hub_api_url: str = "http://hub:8081/hub/api"
    hub_api_token: str = field(default="", repr=False)
    gpu_enforce_seconds: float = 30.0
    clock_offset_file: Path | None = None
    service_name: str = "coursehub"
    oauth_client_id: str = "service-coursehub"
    cookie_secret: str = field(default="", repr=False)
    group_sync_seconds: float = 60.0
    metrics_auth: bool = True

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        environ = os.environ if environ is None else environ
        dev = Environment(environ, "ServiceSettings")("COURSEHUB_MODE") == "dev"
        env = Environment(environ, "ServiceSettings", dev)
        data_dir = env("COURSEHUB_SERVICE_DATA_DIR").absolute()
        # The hub names the URL of a service it runs; otherwise every interface.
        default_bind = env("JUPYTERHUB_SERVICE_URL") or (
            f"http://0.0.0.0:{env('COURSEHUB_SERVICE_PORT')}"
        )
        bind = urlparse(env("COURSEHUB_SERVICE_BIND_URL", default_bind))
        prefix = env("JUPYTERHUB_SERVICE_PREFIX")
        if not prefix.endswith("/"):
            prefix += "/"
        service_name = env("JUPYTERHUB_SERVICE_NAME")
        return cls(
            service_name=service_name,
            oauth_client_id=env("JUPYTERHUB_CLIENT_ID", f"service-{service_name}"),
            cookie_secret=env("COURSEHUB_SERVICE_COOKIE_SECRET") or "",
            hub_api_url=env("JUPYTERHUB_API_URL"),
            hub_api_token=env("JUPYTERHUB_API_TOKEN") or "",
            gpu_enforce_seconds=env("COURSEHUB_GPU_ENFORCE_SECONDS"),
            clock_offset_file=env("COURSEHUB_DEV_CLOCK_OFFSET_FILE"),
            db_url=env(
                "COURSEHUB_SERVICE_DB_URL", f"sqlite:///{data_dir / 'coursehub-service.sqlite'}"
            ),
            data_dir=data_dir,
            courses_dir=env("COURSEHUB_COURSES_DIR").absolute(),
            prefix=prefix,
            bind_host=bind.hostname,
            bind_port=bind.port,
            limits=Limits(
                max_file_bytes=int(env("COURSEHUB_MAX_FILE_MB") * MB),
                max_total_bytes=int(env("COURSEHUB_MAX_SUBMISSION_MB") * MB),
                max_files=env("COURSEHUB_MAX_FILES"),
            ),
            group_sync_seconds=env("COURSEHUB_GROUP_SYNC_SECONDS"),
            metrics_auth=env("COURSEHUB_SERVICE_METRICS_AUTH"),
        )
