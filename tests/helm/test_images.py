"""The images (images/hub, notebook-cpu, notebook-gpu): Dockerfiles and frozen requirements.

No Docker here: Dockerfiles are checked with hadolint and read for what they COPY (from the
repository root, their build context) and install; requirements files are checked for
complete pins, and the CPU notebook image's frozen requirements are installed for real in
a fresh venv (about 40 s) and import what the image promises, coursehub's exchange plugin
included. Every image's frozen set is checked as `pip check` would check it once installed:
pip's resolver, dependencies included, must want exactly the frozen pins for Python 3.11
(nothing missing, nothing conflicting) — from package metadata, without downloading the
GPU image's several GB of CUDA wheels (30-45 s per image, PyPI needed).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGES = REPO_ROOT / "images"
IMAGE_NAMES = ["hub", "notebook-cpu", "notebook-gpu"]
NOTEBOOK_IMAGES = ["notebook-cpu", "notebook-gpu"]
EXCHANGE_CONFIG = REPO_ROOT / "coursehub" / "exchange" / "jupyter_config"
HADOLINT = Path(sys.executable).parent / "hadolint"
PIN = re.compile(r"^([a-z0-9][a-z0-9._-]*)==([^\s=]+)$")


def frozen(image: str) -> dict[str, str]:
    """``{name: version}`` of an image's requirements.txt; fails on any unpinned line."""
    pins = {}
    for number, line in enumerate(
        (IMAGES / image / "requirements.txt").read_text().splitlines(), 1
    ):
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"images/{image}/requirements.txt:{number}: not pinned as name==version"
        pins[match[1]] = match[2]
    return pins


def wanted(requirements_in: Path) -> list[Requirement]:
    """The requirements of a requirements.in, following ``-r`` includes."""
    result = []
    for line in requirements_in.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            result += wanted((requirements_in.parent / line[3:].strip()).resolve())
        elif line:
            result.append(Requirement(line))
    return result


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def instructions(image: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of an image's Dockerfile: comments dropped, continuation
    lines joined."""
    logical, current = [], ""
    for line in (IMAGES / image / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    result = []
    for line in logical:
        keyword, _, arguments = line.strip().partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def copied_files(image: str) -> dict[str, str]:
    """``{path in the image: path in the repository}`` of every file the Dockerfile COPYs,
    as Docker copies them from the repository root (a folder's content goes into the
    destination folder). Fails on a source that is not in the repository."""
    files = {}
    for keyword, arguments in instructions(image):
        if keyword != "COPY":
            continue
        *sources, destination = [word for word in shlex.split(arguments) if word[:2] != "--"]
        for source in sources:
            path = REPO_ROOT / source
            assert path.exists(), f"images/{image}/Dockerfile: COPY {source}: not in the repo"
            if path.is_dir():
                for file in sorted(path.rglob("*")):
                    if file.is_file() and "__pycache__" not in file.parts:
                        inside = file.relative_to(path).as_posix()
                        files[f"{destination.rstrip('/')}/{inside}"] = file.relative_to(
                            REPO_ROOT
                        ).as_posix()
            else:
                target = destination + path.name if destination.endswith("/") else destination
                files[target] = path.relative_to(REPO_ROOT).as_posix()
    return files


def dockerignored(path: str) -> bool:
    """Whether the root .dockerignore keeps ``path`` (repository-relative) out of the build
    context: the last matching pattern decides, and a pattern matching a folder covers what
    is inside it."""
    ignored = False
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            ignored = not keep
    return ignored


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_everything_copied_is_in_the_repository_and_the_build_context(image):
    files = copied_files(image)
    assert files, f"images/{image}/Dockerfile copies nothing"
    for source in files.values():
        assert not dockerignored(source), f".dockerignore leaves out {source} (images/{image})"
    assert dockerignored(".venv/bin/python") and dockerignored(".git/HEAD")


@pytest.mark.parametrize("image", NOTEBOOK_IMAGES)
def test_notebook_image_puts_the_exchange_config_in_etc_jupyter(image):
    """nbgrader_config.py (the exchange), jupyter_server_config.json and
    labconfig/page_config.json (the student's JupyterLab) on Jupyter's system config path."""
    wanted = {
        f"/etc/jupyter/{file.relative_to(EXCHANGE_CONFIG).as_posix()}": (
            file.relative_to(REPO_ROOT).as_posix()
        )
        for file in EXCHANGE_CONFIG.rglob("*")
        if file.is_file() and "__pycache__" not in file.parts
    }
    assert {"/etc/jupyter/nbgrader_config.py", "/etc/jupyter/labconfig/page_config.json"} <= set(
        wanted
    )
    files = copied_files(image)
    for target, source in wanted.items():
        assert files.get(target) == source, f"images/{image}/Dockerfile: {target} is not {source}"


@pytest.mark.parametrize("image", ["hub", *NOTEBOOK_IMAGES])
def test_image_installs_the_coursehub_package(image):
    files = copied_files(image)
    # The folder that receives pyproject.toml must hold the whole package, and be installed.
    (project,) = [path for path in files if path.endswith("/pyproject.toml")]
    folder = project.rsplit("/", 1)[0]
    package = REPO_ROOT / "coursehub"
    for file in package.rglob("*.py"):
        inside = f"{folder}/{file.relative_to(REPO_ROOT).as_posix()}"
        assert files.get(inside) == file.relative_to(REPO_ROOT).as_posix(), inside
    installs = [
        arguments
        for keyword, arguments in instructions(image)
        if keyword == "RUN"
        and re.search(rf"pip install [^&]*{re.escape(folder)}(\s|/?$)", arguments)
    ]
    assert installs, f"images/{image}/Dockerfile never pip-installs {folder}"


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_dockerfile_is_hadolint_clean(image):
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(IMAGES / image / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_image_runs_as_a_non_root_user(image):
    users = re.findall(r"^USER\s+(\S+)", (IMAGES / image / "Dockerfile").read_text(), re.M)
    assert users, f"images/{image}/Dockerfile never sets USER"
    assert users[-1].split(":")[0] not in ("0", "root")


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_frozen_requirements_pin_what_requirements_in_asks_for(image):
    pins = {canonical(name): version for name, version in frozen(image).items()}
    for requirement in wanted(IMAGES / image / "requirements.in"):
        name = canonical(requirement.name)
        assert name in pins, f"images/{image}/requirements.txt lacks {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"images/{image}/requirements.txt: {name}=={pins[name]} is not {requirement}"
        )


def test_gpu_image_has_torch_with_cuda():
    pins = frozen("notebook-gpu")
    assert "torch" in pins and "torchvision" in pins
    assert any(name.startswith("nvidia-cuda-runtime") for name in pins)


def test_cpu_notebook_image_is_the_dev_cluster_environment():
    """Dev-cluster pods run from this project's venv: the CPU image must satisfy the same
    constraints for what the pods run, and the hub image must carry the hub's pins."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    constraints = {canonical(Requirement(r).name): Requirement(r) for r in project["dependencies"]}
    cpu = {canonical(n): v for n, v in frozen("notebook-cpu").items()}
    for name in ("jupyterhub", "jupyterlab", "ipykernel"):
        assert constraints[name].specifier.contains(cpu[name]), (name, cpu[name])
    hub = {canonical(n): v for n, v in frozen("hub").items()}
    assert hub["jupyterhub"] == cpu["jupyterhub"], "hub and singleuser JupyterHub differ"
    for requirement in constraints.values():
        if requirement.name in ("jupyterlab", "ipykernel"):
            continue  # notebook packages: not in the hub image
        assert requirement.specifier.contains(hub[canonical(requirement.name)]), requirement


def test_cpu_notebook_requirements_install_in_a_fresh_venv_and_import(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)  # this pip installs into it (--python): faster
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    requirements = IMAGES / "notebook-cpu" / "requirements.txt"
    # As the Dockerfile does: no resolver, only the frozen set, then a consistency check.
    subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "-r", str(requirements)],
        check=True,
        capture_output=True,
    )
    subprocess.run([*pip, "check"], check=True, capture_output=True)
    probe = (
        "import jupyterlab, ipykernel, nbgrader, jupyterhub.singleuser, shutil; "
        "assert shutil.which('jupyterhub-singleuser', path=sys.argv[1])"
    )
    subprocess.run(
        [str(python), "-c", "import sys; " + probe, str(env_dir / "bin")],
        check=True,
        capture_output=True,
    )
    # The image installs coursehub with --no-deps: its exchange plugin must work with the
    # frozen set alone, with every class the image's nbgrader_config.py names.
    plugin_probe = (
        "import importlib, sys\n"
        "from traitlets.config import PyFileConfigLoader\n"
        "from nbgrader.exchange import abc\n"
        "config = PyFileConfigLoader('nbgrader_config.py', path=sys.argv[1]).load_config()\n"
        "factory = config.ExchangeFactory\n"
        "assert len(factory) == 8, factory\n"
        "for action, name in factory.items():\n"
        "    module, cls = name.rsplit('.', 1)\n"
        "    found = getattr(importlib.import_module(module), cls)\n"
        "    assert issubclass(found, abc.Exchange), name\n"
    )
    result = subprocess.run(
        [str(python), "-c", plugin_probe, str(EXCHANGE_CONFIG)],
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_frozen_requirements_are_pip_check_clean(image, tmp_path):
    """The image installs its requirements.txt with --no-deps; this asks pip's resolver what
    that set needs (every package's dependencies, markers for this Python) and finds it is
    the set itself: after the install `pip check` has nothing to report."""
    venv.create(tmp_path / "venv", with_pip=False)  # the target interpreter, nothing in it
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(tmp_path / "venv" / "bin" / "python")),
            *("install", "--dry-run", "--quiet", "--ignore-installed"),
            *("--report", str(report), "-r", str(IMAGES / image / "requirements.txt")),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"images/{image}/requirements.txt: {result.stderr[-2000:]}"
    resolved = {
        canonical(entry["metadata"]["name"]): entry["metadata"]["version"]
        for entry in json.loads(report.read_text())["install"]
    }
    pins = {canonical(name): version for name, version in frozen(image).items()}
    missing = {name: version for name, version in resolved.items() if name not in pins}
    assert missing == {}, f"images/{image}/requirements.txt lacks dependencies: {missing}"
    assert resolved == pins
