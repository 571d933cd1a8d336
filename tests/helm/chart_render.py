"""Rendering the Helm chart offline, for the chart tests.

- ``REPO_ROOT``, ``CHART_DIR``, ``EVERYTHING`` (the values file that sets every option),
  ``NAMESPACE``, ``OFFLINE`` (values that disable the z2jh dependency).
- ``merge(base, override)``: values merged as Helm merges values files.
- ``everything_values()``: ``EVERYTHING`` as a dict.
- ``render(chart, values)``, ``render_for_kubernetes(chart, values, kube_version)``,
  ``manifests(rendered)``: the objects the chart renders.
- ``find(objects, kind, name=None)``, ``one(objects, kind, name=None)``: pick objects.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "coursehub"
EVERYTHING = REPO_ROOT / "helm" / "values-everything.yaml"
NAMESPACE = "courses"
OFFLINE = {"jupyterhub": {"enabled": False}}


def merge(base: dict, override: dict) -> dict:
    """``override`` merged into a copy of ``base`` as Helm merges values files."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def everything_values() -> dict:
    return merge(yaml.safe_load(EVERYTHING.read_text()), OFFLINE)


def render(chart, values: dict) -> list[dict]:
    """Every object the chart renders for ``values`` (z2jh disabled)."""
    rendered = chart.render(
        merge(values, OFFLINE), name="coursehub", namespace=NAMESPACE, is_install=True
    )
    return manifests(rendered)


def render_for_kubernetes(chart, values: dict, kube_version: str) -> list[dict]:
    """``render`` as for a cluster of ``kube_version`` (``.Capabilities.KubeVersion``). Helm's
    render takes the option; helm-python-sdk 0.2's ``Chart.render`` does not pass it on, so
    this calls its native render the way ``Chart.render`` does."""
    from helm_python import _native

    options = {"name": "coursehub", "namespace": NAMESPACE, "is_install": True}
    rendered = json.loads(
        _native.call_string(
            "helm_render",
            chart._raw(),
            json.dumps(merge(values, OFFLINE)),
            json.dumps({**options, "kube_version": kube_version}),
        )
    )
    return manifests(rendered)


def manifests(rendered: dict[str, str]) -> list[dict]:
    """The objects of Helm's rendered templates (not NOTES.txt, which is text)."""
    objects = []
    for path, text in rendered.items():
        if path.endswith(".yaml"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]
