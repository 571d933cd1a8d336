"""A course's formgrader server, as data: its Jupyter config, command and environment.

``launch()`` is how a formgrader starts, in dev and in production alike: ``coursehub
formgrader serve <course>`` (``coursehub.cli.formgrader``) runs ``command()`` with
``environment()`` in the course's nbgrader folder. The dev hub runs that command as the
managed service ``grader-<course>`` (``coursehub.hub.services.grader_services``); the Helm
chart runs it as a container of the coursehub service's pod. ``--config``
names ``jupyter_config/jupyter_server_config.py``, which loads ``server_config()``; a config
file that fails to load stops the server (``TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR``),
and coursehub's extension checks at start that the config took effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGE = "coursehub.formgrader"
CONFIG_DIR = Path(__file__).resolve().parent / "jupyter_config"
SERVER_CONFIG_FILE = CONFIG_DIR / "jupyter_server_config.py"
COURSE_VARIABLE = "COURSEHUB_FORMGRADER_COURSE"
# A kernel name nothing provides: nbgrader's Execute preprocessor, if reached, starts nothing.
NO_KERNEL = "coursehub-runs-no-kernel-here"
HUB_AUTH_CACHE_SECONDS = 10

GUARD_EXTENSION = f"{PACKAGE}.extension"
FORMGRADER_EXTENSION = "nbgrader.server_extensions.formgrader"
NOTEBOOK_EXTENSION = "notebook"
# The server extensions a formgrader may run; any other found at start stops it.
ALLOWED_EXTENSIONS = {
    "jupyterhub": "JupyterHub's single-user extension: sign-in through the hub",
    FORMGRADER_EXTENSION: "nbgrader's formgrader",
    NOTEBOOK_EXTENSION: "Notebook 7, to edit assignment sources (with no kernel)",
    GUARD_EXTENSION: "coursehub's refusals and start-up checks",
}
# Installed beside them (in dev and in the images) and off in a formgrader.
DISABLED_EXTENSIONS = (
    "jupyterlab",  # its extension manager installs packages, its build API runs node
    "jupyter_lsp",  # starts language servers
    "jupyter_server_terminals",
    "notebook_shim",
    "nbgrader.server_extensions.assignment_list",  # the students' Assignments panel
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.validate_assignment",  # executes the notebook it validates
    "nbgrader.server_extensions.create_assignment",
    "coursehub.notices",
    "coursehub.duedates",  # students' due dates: nothing for a formgrader
)


def server_config() -> dict:
    """The formgrader's Jupyter config (traitlets sections)."""
    enabled = (FORMGRADER_EXTENSION, NOTEBOOK_EXTENSION, GUARD_EXTENSION)
    return {
        "ServerApp": {
            "jpserver_extensions": {
                **{name: False for name in DISABLED_EXTENSIONS},
                **{name: True for name in enabled},
            },
            # A broken guard must stop the server, not be logged and skipped.
            "reraise_server_extension_failures": True,
            "terminals_enabled": False,
            "kernel_manager_class": f"{PACKAGE}.kernels.NoKernels",
            "kernel_spec_manager_class": f"{PACKAGE}.kernels.NoKernelSpecs",
            "contents_manager_class": f"{PACKAGE}.contents.CourseFolderContents",
            "default_url": "/formgrader",
        },
        # Its Manage Assignments page would print the loaded config, gradebook URL included.
        "FormgradeExtension": {"debug": False},
        # Submissions are rendered with nbconvert: students' markdown and HTML sanitized.
        "HTMLExporter": {
            "sanitize_html": True,
            "filters": {
                "clean_html": f"{PACKAGE}.student_html.clean_html",
                "markdown2html": f"{PACKAGE}.student_html.markdown2html",
            },
        },
        # Should any nbgrader path reach its Execute preprocessor, it finds no kernel.
        "Execute": {"kernel_name": NO_KERNEL},
        # Nothing a student signed elsewhere is trusted here, and nothing is remembered.
        "NotebookNotary": {"db_file": ":memory:"},
        # Who a token belongs to and what it may do is asked of the hub again after 10 s
        # (JupyterHub's default: 300 s), so staff removed from the course lose the
        # formgrader within seconds of the service's group change, without a restart.
        "HubOAuth": {"cache_max_age": HUB_AUTH_CACHE_SECONDS},
    }


def command(allow_root: bool) -> list[str]:
    arguments = ["jupyterhub-singleuser", f"--config={SERVER_CONFIG_FILE}"]
    if allow_root:
        arguments.append("--allow-root")
    return arguments


def environment(course_id: str, own_folder: Path) -> dict[str, str]:
    """Jupyter's own folders for this formgrader in ``own_folder`` (one per course, outside
    the course folder staff reach): config (so no user config is read), data (the notebook
    signing secret), runtime files and the notebook editor's settings. coursehub's
    ``labconfig`` (which nbgrader panels the editor shows) is on the config path."""
    return {
        COURSE_VARIABLE: course_id,
        "JUPYTER_CONFIG_DIR": str(own_folder / "config"),
        "JUPYTER_CONFIG_PATH": str(CONFIG_DIR),
        "JUPYTER_DATA_DIR": str(own_folder / "data"),
        "JUPYTER_RUNTIME_DIR": str(own_folder / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(own_folder / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(own_folder / "workspaces"),
        "TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR": "1",
    }


# The file the coursehub service writes into a prepared course folder.
WORKSPACE_CONFIG = "nbgrader_config.py"


class LaunchError(ValueError):
    """A formgrader cannot start where it was asked to; the message names the folder."""


@dataclass(frozen=True)
class Launch:
    """What ``coursehub formgrader serve`` executes: ``argv`` in ``cwd``, with ``environment``
    added to its own."""

    argv: list[str]
    cwd: Path
    environment: dict[str, str]


def launch(course_id: str, workspace: Path, jupyter_dir: Path, allow_root: bool) -> Launch:
    """The formgrader of ``course_id`` in its course folder ``workspace`` (which the coursehub
    service prepared: ``coursehub.service.workspace.prepare_course_workspaces``), Jupyter's
    own files in ``jupyter_dir``. Pure; ``LaunchError`` for an unprepared folder is the
    caller's to raise with ``check_workspace``."""
    return Launch(
        argv=command(allow_root),
        cwd=Path(workspace),
        environment=environment(course_id, Path(jupyter_dir)),
    )


def check_workspace(workspace: Path) -> None:
    """Raise ``LaunchError`` unless ``workspace`` is a prepared course folder."""
    if not (Path(workspace) / WORKSPACE_CONFIG).is_file():
        raise LaunchError(
            f"{workspace}: not a prepared course folder (no {WORKSPACE_CONFIG}); the coursehub "
            "service prepares it: run `coursehub formgrader prepare` with the service's "
            "settings first (the chart's prepare-workspaces init container does)"
        )
