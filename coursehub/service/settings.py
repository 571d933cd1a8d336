"""Service settings, read once from environment variables.

- ``COURSEHUB_SERVICE_DB_URL``: SQL database (``sqlite:///<data>/coursehub-service.sqlite``;
  PostgreSQL in production, e.g. ``postgresql://coursehub:…@db/coursehub``).
- ``COURSEHUB_SERVICE_DATA_DIR``: the file store and the courses' nbgrader folders
  (``./.coursehub-dev/service`` in dev; ``/srv/coursehub`` in production, a PVC).
- ``COURSEHUB_COURSES_DIR``: the course catalog (as for the hub).
- ``COURSEHUB_MAX_FILE_MB`` / ``COURSEHUB_MAX_SUBMISSION_MB`` / ``COURSEHUB_MAX_FILES``:
  upload limits per file, per submission and number of entries (20 / 100 / 1000; folders and
  the extra headers tar writes for long names count as entries too).
- ``COURSEHUB_SERVICE_BIND_URL``: where to listen; defaults to ``JUPYTERHUB_SERVICE_URL``
  (set by the hub for a managed service), else ``http://0.0.0.0:<COURSEHUB_SERVICE_PORT>``
  (port ``8090``; the Helm chart sets the port).
- ``JUPYTERHUB_SERVICE_PREFIX`` (``/services/coursehub/``), ``JUPYTERHUB_API_URL``,
  ``JUPYTERHUB_API_TOKEN``: set by the hub; the token identifies the service to the hub.
  With the token, the service keeps the hub's course groups and dropped members' servers in
  step with the catalog (``coursehub.service.hub_sync``) and enforces GPU limits.
- ``COURSEHUB_GROUP_SYNC_SECONDS``: how often that reconciliation also runs when nothing
  changed (60), as a safety net for hub restarts and hand edits.
- ``COURSEHUB_GPU_ENFORCE_SECONDS``: how often GPU budgets, session limits and idle GPU
  servers are checked (30).
- ``JUPYTERHUB_SERVICE_NAME`` (``coursehub``) and ``JUPYTERHUB_CLIENT_ID``
  (``service-<name>``): the service's name and OAuth client at the hub, for the pages people
  open in a browser (the GPU usage page); set by the hub for a managed service.
- ``COURSEHUB_SERVICE_COOKIE_SECRET``: the key (hex) that signs those pages' login cookies;
  without it, one is made once and kept in ``<data dir>/cookie_secret``.
- ``COURSEHUB_DEV_CLOCK_OFFSET_FILE`` (dev only): a file holding seconds to add to the
  service's clock, read at every use, so tests can move time forward without waiting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from coursehub.exchange.archive import MB, Limits


class ServiceSettingsError(ValueError):
    pass


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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        env = os.environ if environ is None else environ
        dev = env.get("COURSEHUB_MODE") == "dev"
        data_dir = Path(
            env.get("COURSEHUB_SERVICE_DATA_DIR")
            or (".coursehub-dev/service" if dev else "/srv/coursehub")
        ).absolute()
        courses_dir = Path(
            env.get("COURSEHUB_COURSES_DIR") or ("courses" if dev else "/etc/coursehub/courses")
        ).absolute()
        bind = (
            env.get("COURSEHUB_SERVICE_BIND_URL")
            or env.get("JUPYTERHUB_SERVICE_URL")
            or f"http://0.0.0.0:{env.get('COURSEHUB_SERVICE_PORT') or 8090}"
        )
        parsed = urlparse(bind)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ServiceSettingsError(
                f"COURSEHUB_SERVICE_BIND_URL={bind!r} is not an http URL with a host and port "
                "such as http://0.0.0.0:8090"
            )
        prefix = env.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/coursehub/"
        if not prefix.endswith("/"):
            prefix += "/"
        enforce = env.get("COURSEHUB_GPU_ENFORCE_SECONDS") or "30"
        try:
            gpu_enforce_seconds = float(enforce)
        except ValueError:
            gpu_enforce_seconds = -1.0
        if not 0.1 <= gpu_enforce_seconds <= 3600:
            raise ServiceSettingsError(
                f"COURSEHUB_GPU_ENFORCE_SECONDS={enforce!r}: give seconds between 0.1 and 3600"
            )
        offset_file = env.get("COURSEHUB_DEV_CLOCK_OFFSET_FILE") or None
        if offset_file and not dev:
            raise ServiceSettingsError(
                "COURSEHUB_DEV_CLOCK_OFFSET_FILE is set but COURSEHUB_MODE is not 'dev': moving "
                "the clock is for tests only; unset it"
            )
        service_name = env.get("JUPYTERHUB_SERVICE_NAME") or "coursehub"
        return cls(
            service_name=service_name,
            oauth_client_id=env.get("JUPYTERHUB_CLIENT_ID") or f"service-{service_name}",
            cookie_secret=env.get("COURSEHUB_SERVICE_COOKIE_SECRET", ""),
            hub_api_url=(env.get("JUPYTERHUB_API_URL") or "http://hub:8081/hub/api").rstrip("/"),
            hub_api_token=env.get("JUPYTERHUB_API_TOKEN", ""),
            gpu_enforce_seconds=gpu_enforce_seconds,
            clock_offset_file=Path(offset_file) if offset_file else None,
            db_url=env.get("COURSEHUB_SERVICE_DB_URL")
            or f"sqlite:///{data_dir / 'coursehub-service.sqlite'}",
            data_dir=data_dir,
            courses_dir=courses_dir,
            prefix=prefix,
            bind_host=parsed.hostname,
            bind_port=parsed.port,
            limits=Limits(
                max_file_bytes=_megabytes(env, "COURSEHUB_MAX_FILE_MB", 20),
                max_total_bytes=_megabytes(env, "COURSEHUB_MAX_SUBMISSION_MB", 100),
                max_files=_whole(env, "COURSEHUB_MAX_FILES", 1000),
            ),
            group_sync_seconds=_whole(env, "COURSEHUB_GROUP_SYNC_SECONDS", 60),
        )


def _megabytes(env: Mapping[str, str], name: str, default: float) -> int:
    raw = env.get(name)
    if not raw:
        return int(default * MB)
    try:
        value = float(raw)
    except ValueError:
        raise ServiceSettingsError(f"{name}={raw!r} is not a number of megabytes") from None
    if value <= 0:
        raise ServiceSettingsError(f"{name}={raw!r} must be more than 0")
    return int(value * MB)


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ServiceSettingsError(f"{name}={raw!r} must be a whole number of at least 1")
    return int(raw)
