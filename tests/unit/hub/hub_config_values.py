"""What z2jh leaves in ``c`` before ``configure(c)`` runs, for the hub configuration tests.

- ``z2jh_config()``: a ``Config`` as z2jh 4.4 fills it for values like the chart's.
- ``production_settings(tmp_path, **environ)``: production ``HubSettings`` over the sample
  courses (``COURSES``).
- ``names(entries)``: the ``name`` of each entry of a list of dicts.
- ``CULLER_SERVICE``, ``CULLER_ROLE``, ``HELM_SERVICE``, ``HELM_ROLE``, ``HOME``: the z2jh
  entries ``z2jh_config`` holds.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

from coursehub.hub.settings import HubSettings

COURSES = Path(__file__).resolve().parents[3] / "courses"
CULLER_SERVICE = {
    "name": "jupyterhub-idle-culler",
    "command": ["python3", "-m", "jupyterhub_idle_culler", "--timeout=3600"],
}
CULLER_ROLE = {
    "name": "jupyterhub-idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["jupyterhub-idle-culler"],
}
# hub.services.coursehub of the Helm values, with the token z2jh reads from its Secret.
HELM_SERVICE = {
    "name": "coursehub",
    "url": "http://everything-service:9000",
    "display": False,
    "api_token": "token-from-z2jh-secret",
}
HELM_ROLE = {"name": "user", "scopes": ["self", "shares!user"]}
HOME = "volume-{user_server}"


def z2jh_config() -> Config:
    c = Config()
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0, "headers": {"X-Site": "hub"}}
    c.JupyterHub.hub_bind_url = "http://:8081"
    c.KubeSpawner.start_timeout = 900  # singleuser.startTimeout
    c.KubeSpawner.environment = {"TZ": "Europe/Zurich"}  # singleuser.extraEnv
    c.KubeSpawner.storage_pvc_ensure = True
    c.KubeSpawner.storage_capacity = "20Gi"  # singleuser.storage.capacity
    c.KubeSpawner.storage_access_modes = ["ReadWriteOnce"]
    c.KubeSpawner.volumes = {
        HOME: {"name": HOME, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
    }
    c.KubeSpawner.volume_mounts = {
        HOME: {"mountPath": "/home/jovyan", "name": HOME, "subPath": None}
    }
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    c.JupyterHub.services.append(dict(CULLER_SERVICE))
    c.JupyterHub.load_roles.append(dict(CULLER_ROLE))
    c.JupyterHub.services.append(dict(HELM_SERVICE))
    c.JupyterHub.load_roles.append(dict(HELM_ROLE))
    c.Spawner.cmd = ["jupyterhub-singleuser", "--SingleUserNotebookApp.max_body_size=1"]
    # hub.config.JupyterHub.load_groups, applied by z2jh before hub.extraConfig
    c.JupyterHub.load_groups = {"it-staff": {"users": ["it-admin"]}}
    return c


def production_settings(tmp_path, **environ) -> HubSettings:
    return HubSettings.from_environ(
        {
            "COURSEHUB_MODE": "production",
            "CONFIGPROXY_AUTH_TOKEN": "t",
            "COURSEHUB_COURSES_DIR": str(COURSES),
            "COURSEHUB_STATE_DIR": str(tmp_path / "state"),
            "COURSEHUB_PUBLIC_URL": "https://hub.example.edu",
            **environ,
        }
    )


def names(entries: list[dict]) -> list[str]:
    return [entry["name"] for entry in entries]
