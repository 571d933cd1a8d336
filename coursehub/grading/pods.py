"""Grading pods as Kubernetes objects (pure): what the service asks the cluster to run.

A grading pod runs ``python -m coursehub.grading.runner .`` in the course image, in its
batch's folder (mounted at ``/grading`` from the service's volume; a hostPath in the dev
cluster). It has no service account token, no service links, an active deadline, the
grading labels the NetworkPolicy selects (no ingress or egress), seccomp's RuntimeDefault
profile, a ``/tmp`` sized for the submissions it holds at once, and only the capabilities
the runner needs to give each submission a user of its own (``CAPABILITIES``, all within
Pod Security's baseline); student code itself runs without any. In the dev cluster, where
pods share the developer's machine, it also asks for SYS_ADMIN to hide that machine's
folders. A GPU assignment requests its environment's GPU like a notebook pod does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from coursehub.catalog.model import Environment, Grading
from coursehub.names import GPU_PRODUCT_LABEL, GPU_TOLERATION, NO_GPU_LIMITS
from coursehub.quantity import parse_quantity

MOUNT = "/grading"
RUNNER_HEADROOM = 512 * 1024**2  # the runner and the next submission's warm process
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"]
DEV_CAPABILITIES = [*CAPABILITIES, "SYS_ADMIN"]  # namespaces: only where pods share a machine
TMP_HEADROOM = 256 * 1024**2  # the runner's own temporary files


@dataclass(frozen=True)
class PodPlan:
    name: str
    namespace: str
    course: str
    assignment: str
    job_id: str
    batch: int
    submissions: int
    notebooks: int
    environment: Environment
    grading: Grading
    labels: dict[str, str]
    volume: dict  # {"hostPath": {...}} or {"persistentVolumeClaim": {...}}
    sub_path: str = ""
    namespaces: bool = False  # dev: may create namespaces (CAP_SYS_ADMIN)

    def deadline_seconds(self) -> int:
        """Every notebook may use its whole budget, plus start-up."""
        per_notebook = self.grading.notebook_timeout_seconds + 10
        return math.ceil(60 + self.submissions * self.notebooks * per_notebook)


def pod_name(job_id: str, batch: int) -> str:
    return f"grading-{job_id[:12]}-{batch}"


def memory_limit(grading: Grading) -> int:
    """Two submissions' processes at most at once (one runs, the next warms up)."""
    return 2 * int(parse_quantity(grading.memory)) + RUNNER_HEADROOM


def tmp_size(grading: Grading) -> int:
    """Two submissions' disk at most at once (one runs, the next is being set up); the
    runner stops a submission at its own share long before the kubelet would evict the pod
    at this size."""
    return 2 * int(parse_quantity(grading.disk)) + TMP_HEADROOM


def grading_pod(plan: PodPlan) -> dict:
    env, grading = plan.environment, plan.grading
    limits = {"cpu": str(grading.cpu), "memory": str(memory_limit(grading))}
    requests = {"cpu": str(grading.cpu), "memory": str(parse_quantity(grading.memory))}
    spec_extra: dict = {}
    if env.gpu is not None and env.gpu.count > 0:
        limits[env.gpu.resource] = str(env.gpu.count)
        requests[env.gpu.resource] = str(env.gpu.count)
        spec_extra["tolerations"] = [dict(GPU_TOLERATION)]
        if env.gpu.product:
            spec_extra["nodeSelector"] = {GPU_PRODUCT_LABEL: env.gpu.product}
    else:
        limits.update(NO_GPU_LIMITS)
    mount = {"name": "grading", "mountPath": MOUNT}
    if plan.sub_path:
        mount["subPath"] = plan.sub_path
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": plan.name,
            "namespace": plan.namespace,
            "labels": {
                **plan.labels,
                "coursehub.io/course": plan.course,
                "coursehub.io/assignment": plan.assignment,
                "coursehub.io/job": plan.job_id[:63],
            },
            "annotations": {"coursehub.io/submissions": str(plan.submissions)},
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "activeDeadlineSeconds": plan.deadline_seconds(),
            "terminationGracePeriodSeconds": 5,
            # The kubelet's default is Unconfined; student code gets the runtime's filter.
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            **spec_extra,
            "containers": [
                {
                    "name": "grader",
                    "image": env.image,
                    "command": ["python", "-m", "coursehub.grading.runner", "."],
                    "workingDir": MOUNT,
                    "resources": {"requests": requests, "limits": limits},
                    "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}],
                    "securityContext": {
                        # Root only to hand each submission a user of its own (runner.py).
                        "runAsUser": 0,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {
                            "drop": ["ALL"],
                            "add": list(DEV_CAPABILITIES if plan.namespaces else CAPABILITIES),
                        },
                    },
                }
            ],
            "volumes": [
                {"name": "grading", **plan.volume},
                {"name": "tmp", "emptyDir": {"sizeLimit": str(tmp_size(grading))}},
            ],
        },
    }


def grading_network_policy(name: str, namespace: str, labels: dict[str, str]) -> dict:
    """What the chart's ``netpol/grading.yaml`` makes, and ``coursehub dev`` makes in the dev
    cluster: grading pods reach nothing and nothing reaches them (no DNS either). In the
    users mode the runner checks that this holds before it runs any student code."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(labels)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [],
        },
    }
