"""Grading pods as Kubernetes objects: the builder's dict, compared field by field (as
KubeSpawner's ``test_objects.py`` does), without a cluster."""

from __future__ import annotations

import pytest

from coursehub.catalog.model import Environment, Grading
from coursehub.grading.pods import CAPABILITIES, PodPlan, grading_pod, tmp_size

CPU = Environment.model_validate(
    {
        "slug": "cpu",
        "display_name": "CPU",
        "image": "registry.example.edu/ai-101/notebook:2026.12",
        "cpu": {"guarantee": 1, "limit": 2},
        "memory": {"guarantee": "1Gi", "limit": "2Gi"},
    }
)


def plan(**changes) -> PodPlan:
    values = {
        "name": "grading-abc-0",
        "namespace": "hub",
        "course": "ai-101",
        "assignment": "ps1",
        "job_id": "abc",
        "batch": 0,
        "submissions": 4,
        "notebooks": 1,
        "environment": CPU,
        "grading": Grading(disk="500Mi"),
        "labels": {"coursehub.io/component": "grading"},
        "volume": {"persistentVolumeClaim": {"claimName": "store"}},
        "sub_path": "grading/abc/0",
    }
    return PodPlan(**{**values, **changes})


def container(pod: dict) -> dict:
    (only,) = pod["spec"]["containers"]
    return only


def test_a_production_pod_has_the_baseline_capabilities_and_seccomp():
    pod = grading_pod(plan())
    assert pod["spec"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    security = container(pod)["securityContext"]
    assert security == {
        "runAsUser": 0,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": CAPABILITIES},
    }
    # All within Pod Security's baseline profile: no SYS_ADMIN, nothing privileged.
    assert set(CAPABILITIES) <= {"CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"}


def test_only_the_dev_cluster_pod_may_create_namespaces():
    security = container(grading_pod(plan(namespaces=True)))["securityContext"]
    assert security["capabilities"]["add"] == [*CAPABILITIES, "SYS_ADMIN"]


def test_no_token_no_service_links_and_a_deadline():
    spec = grading_pod(plan())["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["restartPolicy"] == "Never"
    # 60 s of start-up and every notebook's whole budget (600 s + 10 s) per submission.
    assert spec["activeDeadlineSeconds"] == 60 + 4 * 610


@pytest.mark.parametrize(("disk", "expected"), [("500Mi", 1256 * 1024**2), ("1Gi", 2304 * 1024**2)])
def test_tmp_holds_two_submissions_disk_share(disk, expected):
    grading = Grading(disk=disk)
    assert tmp_size(grading) == expected
    volumes = {v["name"]: v for v in grading_pod(plan(grading=grading))["spec"]["volumes"]}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {"sizeLimit": str(expected)}}
    assert volumes["grading"] == {
        "name": "grading",
        "persistentVolumeClaim": {"claimName": "store"},
    }


def test_the_grading_labels_and_the_job_are_on_the_pod():
    labels = grading_pod(plan())["metadata"]["labels"]
    assert labels == {
        "coursehub.io/component": "grading",
        "coursehub.io/course": "ai-101",
        "coursehub.io/assignment": "ps1",
        "coursehub.io/job": "abc",
    }
    mounts = container(grading_pod(plan()))["volumeMounts"]
    assert {"name": "grading", "mountPath": "/grading", "subPath": "grading/abc/0"} in mounts
