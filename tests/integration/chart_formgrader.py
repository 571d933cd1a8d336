"""The chart's formgrader, run on this machine: what ``helm template`` renders for a course's
formgrader container (and the init container that lays out the courses' folders), turned
into a local process against a dev ``Platform``.

- ``render_service_pod(chart_dir)``: the coursehub service's pod spec and the formgraders'
  Secret (decoded), rendered offline by the real Helm engine with default values.
- ``LocalPod(pod, secret, paths, urls)``: a rendered container's command and environment
  with the cluster's paths and addresses replaced by this machine's (``paths``: mount path
  -> local folder; ``urls``: in-cluster URL -> local URL). Environment values from the
  formgraders' Secret are read from it; any other source fails the test, so a variable the
  chart adds is never silently dropped.
- ``registry_folder(secret, folder, urls)``: the Secret as the hub's pod mounts it, its
  formgraders' URLs replaced by local ones.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import helm_python as helm
import yaml

NAMESPACE = "courses"
VENV_BIN = Path(sys.executable).parent


def render_service_pod(chart_dir: Path) -> tuple[dict, dict[str, str]]:
    with helm.Chart.load(chart_dir) as chart:
        rendered = chart.render(
            {"jupyterhub": {"enabled": False}}, name="coursehub", namespace=NAMESPACE
        )
    objects = [
        obj
        for name, text in rendered.items()
        if name.endswith(".yaml")
        for obj in yaml.safe_load_all(text)
        if isinstance(obj, dict) and obj.get("kind")
    ]
    (deployment,) = [
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "coursehub-service"
    ]
    (secret,) = [
        o
        for o in objects
        if o["kind"] == "Secret" and o["metadata"]["name"] == "coursehub-formgraders"
    ]
    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    return deployment["spec"]["template"]["spec"], data


def _replace(text: str, replacements: dict[str, str]) -> str:
    for old, new in sorted(replacements.items(), key=lambda item: -len(item[0])):
        text = text.replace(old, new)
    return text


@dataclass
class LocalPod:
    pod: dict
    secret: dict[str, str]
    paths: dict[str, str]
    urls: dict[str, str]

    def container(self, name: str, init: bool = False) -> dict:
        (found,) = [
            c for c in self.pod["initContainers" if init else "containers"] if c["name"] == name
        ]
        return found

    def argv(self, container: dict) -> list[str]:
        """The container's command; its program from this venv (the image has it on PATH)."""
        program, *arguments = container["command"]
        local = VENV_BIN / program
        assert local.exists(), f"{program} is not installed here"
        return [str(local), *(_replace(a, self.paths) for a in arguments)]

    def environment(self, container: dict) -> dict[str, str]:
        environment = {"PATH": f"{VENV_BIN}:/usr/bin:/bin"}
        for variable in container.get("env", []):
            source = variable.get("valueFrom", {}).get("secretKeyRef")
            if "value" in variable:
                value = _replace(_replace(variable["value"], self.urls), self.paths)
            elif source and source["name"] == "coursehub-formgraders":
                value = self.secret[source["key"]]
            else:
                raise AssertionError(f"{variable['name']}: no local source for {variable}")
            environment[variable["name"]] = value
        return environment


def registry_folder(secret: dict[str, str], folder: Path, urls: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, content in secret.items():
        if key == "formgraders.json":
            listing = json.loads(content)
            content = json.dumps(
                {
                    course: {"url": urls.get(entry["url"], entry["url"])}
                    for course, entry in listing.items()
                    if entry["url"] in urls
                }
            )
        (folder / key).write_text(content)
    return folder
