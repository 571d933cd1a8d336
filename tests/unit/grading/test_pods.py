"""Grading pods as Kubernetes objects: the builder's dict, compared field by field (as
KubeSpawner's ``test_objects.py`` does), without a cluster."""

from __future__ import annotations

import pytest

from coursehub.catalog.model import Environment, Grading
from coursehub.grading.pods import (
    CAPABILITIES,
    PodPlan,
    grading_network_policy,
    grading_pod,
    grading_secret,
    tmp_size,
)
from coursehub.grading.transport import TOKEN_ENV, URL_ENV
from coursehub.quantity import parse_quantity

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
        "batch_url": "http://10.0.0.5:8090/services/coursehub/api/grading/batches/abc-0",
        "secret_name": "grading-abc-0-token",
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
    # No volume of the service's: the batch is fetched into an emptyDir of the pod's own.
    inputs = 4 * int(parse_quantity(disk)) + 256 * 1024**2  # 4 submissions' disk share
    assert volumes["grading"] == {"name": "grading", "emptyDir": {"sizeLimit": str(inputs)}}
    assert not any("persistentVolumeClaim" in v or "hostPath" in v for v in volumes.values())


def test_the_grading_labels_and_the_job_are_on_the_pod():
    labels = grading_pod(plan())["metadata"]["labels"]
    assert labels == {
        "coursehub.io/component": "grading",
        "coursehub.io/course": "ai-101",
        "coursehub.io/assignment": "ps1",
        "coursehub.io/job": "abc",
    }
    mounts = container(grading_pod(plan()))["volumeMounts"]
    assert {"name": "grading", "mountPath": "/grading"} in mounts


def test_the_pod_gets_its_batch_address_and_its_token_from_the_batch_secret():
    plan_ = plan()
    env = container(grading_pod(plan_))["env"]
    assert env == [
        {"name": URL_ENV, "value": plan_.batch_url},
        {
            "name": TOKEN_ENV,
            "valueFrom": {"secretKeyRef": {"name": "grading-abc-0-token", "key": "token"}},
        },
    ]
    assert container(grading_pod(plan_))["workingDir"] == "/grading"
    secret = grading_secret(plan_, "s3cret")
    assert secret["metadata"] == {
        "name": "grading-abc-0-token",
        "namespace": "hub",
        "labels": {"coursehub.io/component": "grading", "coursehub.io/job": "abc"},
    }
    assert secret["stringData"] == {"token": "s3cret"}


def test_the_network_policy_allows_egress_to_the_service_port_alone():
    peer = {"podSelector": {"matchLabels": {"app": "coursehub"}}}
    policy = grading_network_policy("g", "hub", {"coursehub.io/component": "grading"}, peer, 8090)
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"] and spec["ingress"] == []
    assert spec["egress"] == [{"to": [peer], "ports": [{"protocol": "TCP", "port": 8090}]}]
