"""The platform ``coursehub dev`` runs: the dev cluster, configurable-http-proxy and the hub
on one machine.

Three processes, as in a z2jh deployment (API server + scheduler + kubelet, proxy pod,
hub pod), each logging to ``<state>/logs/<part>.log``:

- ``devcluster``: ``python -m coursehub devcluster up --state-dir <state>``; ready when
  ``<state>/kubeconfig`` exists and its API server answers.
- ``proxy``: configurable-http-proxy on the public port, its API on a free port; ready
  when its API answers.
- ``hub``: ``python -m jupyterhub -f hub_config/jupyterhub_config.py`` with settings in
  environment variables (see ``coursehub.hub.settings``); ready when ``/hub/api`` answers
  directly and through the proxy, and the coursehub service it manages answers too and has
  reconciled the hub's course groups once. The hub also starts one formgrader per course
  (``grader-<course>``).

``Platform`` is the reusable part (tests start one with their own courses folder and
free ports, restart only the hub and stop everything; the command is ``command.run``).
Stopping sends SIGTERM to each part (hub, proxy, then the cluster, which stops its pods'
processes) and SIGKILLs a part's process group only if it does not exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from coursehub.catalog import load_catalog
from coursehub.dev.processes import Part, PartFailed, free_port, http_status, port_is_free
from coursehub.grading.pods import grading_network_policy
from coursehub.grading.settings import GradingSettings
from coursehub.hub.auth import read_passwords
from coursehub.hub.objects import shared_data_claims
from coursehub.hub.settings import HubSettings, SettingsError
from coursehub.service.workspace import prepare_course_workspaces

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_CONFIG_SHIM = (
    '"""Written by coursehub dev."""\n'
    "from coursehub.hub.config import configure\n\n"
    "configure(c)  # noqa: F821\n"
)


def find_proxy_command() -> str:
    """configurable-http-proxy from ``<repo>/node_modules/.bin``, else from PATH."""
    local = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    raise FileNotFoundError(
        "configurable-http-proxy not found in node_modules/.bin or on PATH: "
        "run `npm install` at the repository root"
    )


def service_ready(health_url: str) -> bool:
    """The coursehub service answers and has reconciled the hub's course groups once (or
    runs without the hub API, so never will)."""
    try:
        with urllib.request.urlopen(health_url, timeout=2) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    groups = body.get("groups") or {}
    return bool(groups.get("synced") or groups.get("disabled"))


@dataclass
class PlatformConfig:
    """Where a platform keeps its state and which ports it uses (0: a free port)."""

    state_dir: Path
    courses_dir: Path
    port: int = 8000
    cluster_config: Path | None = None
    host: str = "127.0.0.1"
    hub_port: int = 0
    proxy_api_port: int = 0
    service_port: int = 0
    admin_token: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    proxy_auth_token: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    extra_hub_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 90.0
    # A jupyterhub_config.py other than hub_config/'s (the spawn benchmark's baseline).
    hub_config: Path | None = None


class Platform:
    """Dev cluster + proxy + hub. Use as a context manager or call ``start``/``stop``.

    Attributes callers may rely on after ``start()``: ``public_url`` (the proxy, e.g.
    ``http://127.0.0.1:8000``), ``hub_url`` (the hub directly), ``admin_token`` (admin
    scopes on the hub API), ``kubeconfig`` (the dev cluster's), ``passwords()`` (demo
    accounts), ``service_url`` (the coursehub service's API, directly), ``parts``
    (name -> ``Part``).
    """

    def __init__(self, config: PlatformConfig):
        self.config = config
        self.state_dir = Path(config.state_dir).absolute()
        self.courses_dir = Path(config.courses_dir).absolute()
        self.logs_dir = self.state_dir / "logs"
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.admin_token = config.admin_token
        host = config.host
        self.port = config.port or free_port(host)
        self.hub_port = config.hub_port or free_port(host)
        self.proxy_api_port = config.proxy_api_port or free_port(host)
        self.service_port = config.service_port or free_port(host)
        self.public_url = f"http://{host}:{self.port}"
        self.hub_url = f"http://{host}:{self.hub_port}"
        self.proxy_api_url = f"http://{host}:{self.proxy_api_port}"
        # The coursehub service's API, as pods reach it (the CLI goes through the proxy).
        self.service_url = f"http://{host}:{self.service_port}/services/coursehub"
        self.parts: dict[str, Part] = {}

    # ----- whole platform -------------------------------------------------------------

    def start(self) -> Platform:
        """Start cluster, proxy and hub in order; on failure stop what started and raise
        ``PartFailed``."""
        if not self.courses_dir.is_dir():
            raise FileNotFoundError(f"courses folder {self.courses_dir} does not exist")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.start_cluster()
            self.start_proxy()
            self.start_hub()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop hub, proxy and cluster (the cluster stops its pods); idempotent."""
        for name in ("hub", "proxy", "devcluster"):
            part = self.parts.get(name)
            if part is not None:
                part.stop()

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def check_running(self) -> None:
        """Raise ``PartFailed`` for the first part that has exited."""
        for part in self.parts.values():
            if part.process is not None and not part.running():
                raise part.failure(f"stopped unexpectedly with code {part.exit_code()}")

    def passwords(self) -> dict[str, str]:
        """Demo accounts (username -> password) the hub generated."""
        return read_passwords(self.state_dir / "demo-passwords.json")

    # ----- parts ----------------------------------------------------------------------

    def _env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        # Children (and the pods the kubelet runs) find this venv's jupyterhub-singleuser.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    def start_cluster(self) -> None:
        argv = [sys.executable, "-m", "coursehub", "devcluster", "up"]
        argv += ["--state-dir", str(self.state_dir), "--host", self.config.host]
        if self.config.cluster_config:
            argv += ["--config", str(Path(self.config.cluster_config).absolute())]
        self.kubeconfig.unlink(missing_ok=True)  # a stale one would look ready
        part = self._start_part("devcluster", argv, self._env())
        part.wait_until(self._cluster_answers, self.config.start_timeout, "an API server")
        self.create_chart_objects()

    def create_chart_objects(self, namespace: str = "default") -> None:
        """Create in the dev cluster what the Helm chart creates in production: the courses'
        shared-data claims and the grading pods' NetworkPolicy; existing ones are kept."""
        catalog = load_catalog(self.courses_dir)
        grading = GradingSettings()
        objects = [
            (f"api/v1/namespaces/{namespace}/persistentvolumeclaims", claim)
            for claim in shared_data_claims(list(catalog.courses.values()), namespace)
        ]
        # The service is no pod here: its address is the peer grading pods may reach.
        host = urllib.parse.urlsplit(self.service_url).hostname or "127.0.0.1"
        policy = grading_network_policy(
            "coursehub-grading",
            namespace,
            dict(grading.pod_labels),
            {"ipBlock": {"cidr": f"{socket.gethostbyname(host)}/32"}},
            self.service_port,
        )
        objects.append(
            (f"apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies", policy)
        )
        server = self.cluster_server()
        # The policy names this run's service port: one from an earlier run is replaced.
        stale = f"{server}/{objects[-1][0]}/{policy['metadata']['name']}"
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(urllib.request.Request(stale, method="DELETE"), timeout=10)
        for path, body in objects:
            request = urllib.request.Request(
                f"{server}/{path}",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError as error:
                if error.code != 409:  # 409: it exists already
                    raise self.parts["devcluster"].failure(
                        f"refused {body['kind']} {body['metadata']['name']}: {error.read()!r}"
                    ) from None

    def cluster_server(self) -> str | None:
        """The API server URL from the kubeconfig, once written."""
        try:
            config = YAML(typ="safe").load(self.kubeconfig.read_text())
            return config["clusters"][0]["cluster"]["server"].rstrip("/")
        except (FileNotFoundError, KeyError, IndexError, TypeError):
            return None

    def _cluster_answers(self) -> bool:
        server = self.cluster_server()
        return server is not None and http_status(f"{server}/api/v1/namespaces") == 200

    def start_proxy(self) -> None:
        host = self.config.host
        if not port_is_free(host, self.port):
            raise PartFailed(
                "proxy",
                f"cannot listen on {host}:{self.port}: the port is in use "
                "(another coursehub dev? choose another with --port)",
                self.logs_dir / "proxy.log",
                "",
            )
        argv = [find_proxy_command(), "--ip", host, "--port", str(self.port)]
        argv += ["--api-ip", host, "--api-port", str(self.proxy_api_port)]
        argv += ["--default-target", self.hub_url, "--error-target", f"{self.hub_url}/hub/error"]
        env = self._env(CONFIGPROXY_AUTH_TOKEN=self.config.proxy_auth_token)
        part = self._start_part("proxy", argv, env)
        part.wait_until(
            lambda: (
                http_status(f"{self.proxy_api_url}/api/routes", self.config.proxy_auth_token) == 200
            ),
            self.config.start_timeout,
            "its API answering",
        )

    def hub_env(self) -> dict[str, str]:
        """The environment the hub runs with (its settings)."""
        return self._env(
            COURSEHUB_MODE="dev",
            COURSEHUB_COURSES_DIR=str(self.courses_dir),
            COURSEHUB_STATE_DIR=str(self.state_dir),
            COURSEHUB_PUBLIC_URL=self.public_url,
            COURSEHUB_HUB_IP=self.config.host,
            COURSEHUB_HUB_PORT=str(self.hub_port),
            COURSEHUB_PROXY_API_URL=self.proxy_api_url,
            CONFIGPROXY_AUTH_TOKEN=self.config.proxy_auth_token,
            COURSEHUB_DEV_ADMIN_TOKEN=self.admin_token,
            COURSEHUB_SERVICE_PORT=str(self.service_port),
            KUBECONFIG=str(self.kubeconfig),
            **self.config.extra_hub_env,
        )

    def _hub_config_file(self) -> Path:
        if self.config.hub_config is not None:
            return Path(self.config.hub_config).absolute()
        in_repo = REPO_ROOT / "hub_config" / "jupyterhub_config.py"
        if in_repo.exists():
            return in_repo
        shim = self.state_dir / "jupyterhub_config.py"
        shim.write_text(HUB_CONFIG_SHIM)
        return shim

    def start_hub(self) -> None:
        prepare_grader_workspaces(self.hub_env())
        argv = [sys.executable, "-m", "jupyterhub", "-f", str(self._hub_config_file())]
        part = self._start_part("hub", argv, self.hub_env())
        part.wait_until(
            lambda: (
                http_status(f"{self.hub_url}/hub/api/") == 200
                and http_status(f"{self.public_url}/hub/api/") == 200
                and service_ready(f"{self.public_url}/services/coursehub/api/health")
            ),
            self.config.start_timeout,
            "its API answering through the proxy and the coursehub service answering, "
            "with the course groups reconciled",
        )

    def stop_hub(self) -> None:
        part = self.parts.get("hub")
        if part is not None:
            part.stop()

    def kill_hub(self) -> None:
        """SIGKILL the hub, as a crash would (its managed services die with it); servers
        keep running. ``start_hub`` brings it back."""
        part = self.parts.get("hub")
        if part is not None and part.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(part.process.pid, signal.SIGKILL)
            part.process.wait()

    def restart_hub(self) -> None:
        """Stop the hub only and start it again (servers keep running: cleanup_servers
        is off)."""
        self.stop_hub()
        self.start_hub()

    def _start_part(self, name: str, argv: list[str], env: dict[str, str]) -> Part:
        part = Part(name, argv, env, self.state_dir, self.logs_dir / f"{name}.log")
        self.parts[name] = part
        part.start()
        return part


def prepare_grader_workspaces(hub_env: dict[str, str]) -> None:
    """The course folders the hub's formgraders (``grader-<course>``, managed services that
    run in them) need before the hub starts them, laid out as the coursehub service keeps
    them (``prepare_course_workspaces``, which the chart's init container runs too).
    Settings the hub cannot use are left for the hub to report."""
    try:
        settings = HubSettings.from_environ(hub_env)
    except SettingsError:
        return
    if not settings.is_dev:
        return  # the hub runs formgraders only in dev (coursehub.hub.services.grader_services)
    prepare_course_workspaces(
        settings.service_data_dir,
        settings.courses_dir,
        settings.service_db_url or "sqlite://",
        load_catalog(settings.courses_dir).courses,
    )
