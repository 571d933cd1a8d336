"""The images (images/hub, notebook-cpu, notebook-gpu): Dockerfiles and frozen requirements.

No Docker here: Dockerfiles are checked with hadolint, requirements files are checked for
complete pins, and the CPU notebook image's frozen requirements are installed for real in
a fresh venv (about 40 s) and import what the image promises. The GPU image's (torch with
CUDA, several GB) are only checked as files.
"""

from __future__ import annotations

import re
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
