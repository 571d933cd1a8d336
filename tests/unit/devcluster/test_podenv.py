"""What a pod's process sees: environment, argv, mounts and device ids (pure)."""

from __future__ import annotations

import base64
from pathlib import PurePosixPath

import pytest

from coursehub.devcluster.podenv import (
    EnvError,
    container_argv,
    container_env,
    device_ids,
    mount_plan,
    with_host,
)

POD_IP = "127.42.0.7"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


OBJECTS = {
    ("secrets", "ns", "creds"): {"data": {"token": b64("s3cr3t"), "user": b64("ada")}},
    ("configmaps", "ns", "settings"): {"data": {"LEVEL": "debug", "MODE": "fast"}},
}


def lookup(kind: str, namespace: str, name: str) -> dict | None:
    return OBJECTS.get((kind, namespace, name))


def make_pod(container: dict) -> dict:
    return {
        "metadata": {
            "name": "jupyter-ada",
            "namespace": "ns",
            "uid": "uid-1",
            "labels": {"app": "jupyterhub"},
            "annotations": {"hub.jupyter.org/username": "ada"},
        },
        "spec": {"nodeName": "gpu-a100-1", "containers": [container]},
    }


def env_of(*variables: dict, env_from: list | None = None, resources: dict | None = None):
    container = {"name": "notebook", "env": list(variables), "envFrom": env_from or []}
    if resources:
        container["resources"] = resources
    return container_env(
        container,
        make_pod(container),
        pod_ip=POD_IP,
        host_ip="127.0.0.1",
        api_host="127.0.0.1",
        api_port=6443,
        lookup=lookup,
    )


def test_plain_values_and_kubelet_variables():
    env = env_of({"name": "A", "value": "1"})
    assert env["A"] == "1"
    assert env["HOSTNAME"] == "jupyter-ada"
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"


def test_dollar_references_expand_earlier_variables_only():
    env = env_of(
        {"name": "A", "value": "x"},
        {"name": "B", "value": "$(A)-$(LATER)-$$(A)"},
        {"name": "LATER", "value": "y"},
    )
    assert env["B"] == "x-$(LATER)-$(A)"


def test_secret_key_ref_is_base64_decoded():
    env = env_of({"name": "T", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}})
    assert env["T"] == "s3cr3t"


def test_config_map_key_ref():
    ref = {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}
    assert env_of({"name": "L", "valueFrom": ref})["L"] == "debug"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "jupyter-ada"),
        ("metadata.namespace", "ns"),
        ("metadata.uid", "uid-1"),
        ("metadata.labels['app']", "jupyterhub"),
        ("metadata.annotations['hub.jupyter.org/username']", "ada"),
        ("spec.nodeName", "gpu-a100-1"),
        ("status.podIP", POD_IP),
        ("status.hostIP", "127.0.0.1"),
    ],
)
def test_field_refs(path, expected):
    env = env_of({"name": "F", "valueFrom": {"fieldRef": {"fieldPath": path}}})
    assert env["F"] == expected


def test_unsupported_field_ref_raises():
    with pytest.raises(EnvError, match=r"status\.phase"):
        env_of({"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}})


def test_resource_field_refs_round_up_by_divisor():
    resources = {"limits": {"cpu": "1500m", "memory": "1Gi"}, "requests": {"cpu": "250m"}}
    env = env_of(
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {
            "name": "MEM",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
        },
        {
            "name": "REQ",
            "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
        },
        resources=resources,
    )
    assert (env["CPU"], env["MEM"], env["REQ"]) == ("2", "1024", "250")


def test_env_from_with_prefix_and_explicit_env_winning():
    env = env_of(
        {"name": "CFG_MODE", "value": "slow"},
        env_from=[
            {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
            {"secretRef": {"name": "creds"}},
        ],
    )
    assert env["CFG_LEVEL"] == "debug"
    assert env["CFG_MODE"] == "slow"
    assert (env["token"], env["user"]) == ("s3cr3t", "ada")


def test_optional_refs_are_skipped_when_missing():
    env = env_of(
        {
            "name": "A",
            "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}},
        },
        {
            "name": "B",
            "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "no", "optional": True}},
        },
        env_from=[{"secretRef": {"name": "nope", "optional": True}}],
    )
    assert "A" not in env and "B" not in env


@pytest.mark.parametrize(
    ("variable", "env_from", "message"),
    [
        ({"secretKeyRef": {"name": "nope", "key": "k"}}, [], 'secret "nope" not found'),
        (
            {"secretKeyRef": {"name": "creds", "key": "k"}},
            [],
            "couldn't find key k in secret ns/creds",
        ),
        ({"configMapKeyRef": {"name": "nope", "key": "k"}}, [], 'configmap "nope" not found'),
        (None, [{"configMapRef": {"name": "gone"}}], 'configmap "gone" not found'),
    ],
)
def test_missing_refs_raise_env_error(variable, env_from, message):
    variables = [{"name": "X", "valueFrom": variable}] if variable else []
    with pytest.raises(EnvError) as caught:
        env_of(*variables, env_from=env_from)
    assert str(caught.value) == message


def test_hub_service_url_host_becomes_the_pod_ip():
    env = env_of({"name": "JUPYTERHUB_SERVICE_URL", "value": "http://0.0.0.0:8888/user/ada/"})
    assert env["JUPYTERHUB_SERVICE_URL"] == f"http://{POD_IP}:8888/user/ada/"
    assert with_host("http://hub/x?y=1", POD_IP) == f"http://{POD_IP}/x?y=1"


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        # KubeSpawner puts its whole command in args: the image entrypoint stays in front
        ({"args": ["jupyterhub-singleuser", "--debug"]},
         ["tini", "--", "jupyterhub-singleuser", "--debug"]),
        ({"command": ["python", "-c"], "args": ["print(1)"]}, ["python", "-c", "print(1)"]),
        ({"command": ["sleep", "9"]}, ["sleep", "9"]),  # command drops the image's cmd
        ({}, ["tini", "--", "start-notebook.sh"]),
        ({"command": ["echo", "$(WHO)", "$$(WHO)"]}, ["echo", "ada", "$(WHO)"]),
    ],
)  # fmt: skip
def test_argv_combines_container_and_image(container, expected):
    argv = container_argv(
        {"name": "c", **container}, ["tini", "--"], ["start-notebook.sh"], {"WHO": "ada"}
    )
    assert argv == expected


def test_argv_without_anything_to_run_raises():
    with pytest.raises(EnvError, match="no command"):
        container_argv({"name": "c"}, [], [], {})


def test_mount_plan_puts_parents_first_and_keeps_details():
    container = {
        "name": "c",
        "volumeMounts": [
            {"name": "shared", "mountPath": "/home/jovyan/shared/data", "readOnly": True},
            {"name": "home", "mountPath": "/home/jovyan", "subPath": "ada"},
            {"name": "scratch", "mountPath": "/tmp/scratch"},
        ],
    }
    pod = make_pod(container)
    pod["spec"]["volumes"] = [
        {"name": "home", "persistentVolumeClaim": {"claimName": "home-ada"}},
        {"name": "shared", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    plan = mount_plan(container, pod)
    assert [str(m.path) for m in plan] == [
        "/home/jovyan",
        "/tmp/scratch",
        "/home/jovyan/shared/data",
    ]
    assert plan[0].sub_path == "ada" and plan[0].volume["persistentVolumeClaim"]
    assert plan[2].read_only and not plan[0].read_only
    assert plan[1].path == PurePosixPath("/tmp/scratch")


def test_mount_of_an_unknown_volume_raises():
    container = {"name": "c", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}
    with pytest.raises(EnvError, match="'x' names no volume"):
        mount_plan(container, make_pod(container))


def test_device_ids():
    assert device_ids("gpu-a100-1", "nvidia.com/gpu", [0, 1]) == [
        "GPU-gpu-a100-1-gpu-0",
        "GPU-gpu-a100-1-gpu-1",
    ]
    assert device_ids("mig-a100-1", "nvidia.com/mig-1g.10gb", [3]) == [
        "MIG-mig-a100-1-mig-1g.10gb-3"
    ]
