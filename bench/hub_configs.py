"""Hub configurations the spawn benchmark compares, written as jupyterhub_config files.

Both variants share coursehub's whole configuration (``configure(c)``) so that the only
difference measured is the spawner: coursehub's ``CourseSpawner`` (profile list computed per
user from the catalog, server-side refusal of foreign profiles, plain-language progress)
against the unmodified ``KubeSpawner`` with the same profiles as a static ``profile_list``.
"""

from __future__ import annotations

import sys
from pathlib import Path

LIGHT_SERVER = Path(__file__).resolve().parent / "light_server.py"

_COMMON = """\
import sys
from coursehub.hub.config import configure

configure(c)
"""

_LIGHT = """
# A light pod command: measures the platform, not JupyterLab's start-up.
c.KubeSpawner.cmd = [{python!r}, {server!r}]
c.KubeSpawner.args = []
"""

_PLAIN = """
# The baseline: unmodified KubeSpawner, the same profiles as a static list.
from coursehub.catalog import load_catalog
from coursehub.hub.profiles import build_profiles
from coursehub.hub.settings import HubSettings

c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.profile_list = build_profiles(
    load_catalog(HubSettings.from_environ().courses_dir), "admin", True
)
"""


def write_hub_config(
    path: Path, *, plain: bool, light: bool, server: Path = LIGHT_SERVER, extra: str = ""
) -> Path:
    """Write a jupyterhub_config.py for one benchmark variant and return its path.

    ``server``: the light pod command's script; ``extra``: more config lines."""
    light_lines = _LIGHT.format(python=sys.executable, server=str(server)) if light else ""
    text = _COMMON + (_PLAIN if plain else "") + light_lines + extra
    path.write_text(text)
    return path
