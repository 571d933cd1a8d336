"""The formgrader's server config as data (``coursehub.formgrader.config``): what it sets, that
the file named by ``--config`` loads exactly that, and that every server extension installed
here is either allowed or switched off."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_server.services.contents.manager import AsyncContentsManager
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from nbconvert.exporters import HTMLExporter
from traitlets import import_item
from traitlets.config import Config, PyFileConfigLoader

from coursehub.formgrader import config
from coursehub.formgrader.contents import CourseFolderContents
from coursehub.formgrader.kernels import NoKernels, NoKernelSpecs


def test_no_terminals_no_kernels_and_the_course_folder_contents():
    server = config.server_config()["ServerApp"]
    assert server["terminals_enabled"] is False
    assert import_item(server["kernel_manager_class"]) is NoKernels
    assert issubclass(NoKernels, AsyncMappingKernelManager)
    assert import_item(server["kernel_spec_manager_class"]) is NoKernelSpecs
    assert issubclass(NoKernelSpecs, KernelSpecManager)
    assert import_item(server["contents_manager_class"]) is CourseFolderContents
    assert issubclass(CourseFolderContents, AsyncContentsManager)
    assert server["reraise_server_extension_failures"] is True
    assert server["default_url"] == "/formgrader"


def test_only_the_formgrader_the_editor_and_the_guard_are_enabled():
    extensions = config.server_config()["ServerApp"]["jpserver_extensions"]
    enabled = {name for name, on in extensions.items() if on}
    assert enabled == {
        config.FORMGRADER_EXTENSION,
        config.NOTEBOOK_EXTENSION,
        "coursehub.formgrader.extension",
    }
    # JupyterHub's own extension is added by jupyterhub-singleuser, not by the config.
    assert enabled | {"jupyterhub"} == set(config.ALLOWED_EXTENSIONS)
    assert not enabled & set(config.DISABLED_EXTENSIONS)


def test_every_extension_installed_here_is_allowed_or_switched_off():
    """A newly installed server extension must be decided on here; at start the guard
    stops a formgrader that finds one it does not know."""
    installed = set()
    for path in (Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d").glob("*.json"):
        installed |= set(json.loads(path.read_text())["ServerApp"]["jpserver_extensions"])
    exchange = Path(config.__file__).parents[1] / "exchange/jupyter_config"
    installed |= set(
        json.loads((exchange / "jupyter_server_config.json").read_text())["ServerApp"][
            "jpserver_extensions"
        ]
    )
    assert installed, "no installed server extensions found"
    undecided = installed - set(config.ALLOWED_EXTENSIONS) - set(config.DISABLED_EXTENSIONS)
    assert not undecided


def test_student_html_is_sanitized_and_nothing_finds_a_kernel():
    settings = config.server_config()
    exporter = settings["HTMLExporter"]
    assert exporter["sanitize_html"] is True
    assert set(exporter["filters"]) == {"clean_html", "markdown2html"}
    for name in exporter["filters"].values():
        assert callable(import_item(name))
    assert settings["FormgradeExtension"] == {"debug": False}
    assert settings["Execute"] == {"kernel_name": config.NO_KERNEL}
    assert settings["NotebookNotary"] == {"db_file": ":memory:"}


def test_the_config_file_loads_the_same_data():
    loaded = PyFileConfigLoader(
        config.SERVER_CONFIG_FILE.name, path=str(config.SERVER_CONFIG_FILE.parent)
    ).load_config()
    for section, traits in config.server_config().items():
        for name, value in traits.items():
            assert loaded[section][name] == value, (section, name)


def test_command_names_the_config_file_and_allows_root_only_when_asked():
    assert config.command(allow_root=False) == [
        "jupyterhub-singleuser",
        f"--config={config.SERVER_CONFIG_FILE}",
    ]
    assert config.command(allow_root=True)[-1] == "--allow-root"
    assert config.SERVER_CONFIG_FILE.is_file()


def test_environment_keeps_jupyters_files_out_of_the_course_folder(tmp_path):
    own = tmp_path / "formgraders/ai-101"
    environment = config.environment("ai-101", own)
    assert environment[config.COURSE_VARIABLE] == "ai-101"
    folders = {key: Path(value) for key, value in environment.items() if key.endswith("_DIR")}
    assert set(folders) == {
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
    }
    assert all(own in folder.parents for folder in folders.values())
    assert environment["JUPYTER_CONFIG_PATH"] == str(config.CONFIG_DIR)
    assert environment["TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR"] == "1"
    page_config = json.loads((config.CONFIG_DIR / "labconfig/page_config.json").read_text())
    disabled = page_config["disabledExtensions"]
    assert "@jupyter/nbgrader:create-assignment" not in disabled  # authoring stays
    assert disabled["@jupyter/nbgrader:assignment-list"] is True


def test_nbconvert_takes_the_filters_by_their_import_names():
    # A wrong name would fail here, not when staff open a submission.
    exporter = HTMLExporter(config=Config(config.server_config()))
    filters = exporter.environment.filters
    assert filters["clean_html"] is import_item("coursehub.formgrader.student_html.clean_html")
    assert filters["markdown2html"] is import_item(
        "coursehub.formgrader.student_html.markdown2html"
    )
