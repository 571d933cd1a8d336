"""Grading pods as Kubernetes objects (pure): what the service asks the cluster to run.

A grading pod runs ``python -m coursehub.grading.runner .`` in the course image, in its
batch's folder (mounted at ``/grading`` from the service's volume; a hostPath in the dev
cluster). It has no service account token, no service links, an active deadline, the
grading labels the NetworkPolicy selects (no ingress or egress), and only the capabilities
the runner needs to give each submission a user of its own; student code itself runs
without any. A GPU assignment requests its environment's GPU like a notebook pod does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from coursehub.catalog.model import Environment, Grading
from coursehub.hub.profiles import GPU_PRODUCT_LABEL, GPU_TOLERATION, NO_GPU_LIMITS
from coursehub.quantity import parse_quantity

MOUNT = "/grading"
RUNNER_HEADROOM = 512 * 1024**2  # the runner and the next submission's warm process
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"]


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

    def deadline_seconds(self) -> int:
        """Every notebook may use its whole budget, plus start-up."""
        per_notebook = self.grading.notebook_timeout_seconds + 10
        return math.ceil(60 + self.submissions * self.notebooks * per_notebook)


def pod_name(job_id: str, batch: int) -> str:
    return f"grading-{job_id[:12]}-{batch}"


def memory_limit(grading: Grading) -> int:
    """Two submissions' processes at most at once (one runs, the next warms up)."""
    return 2 * int(parse_quantity(grading.memory)) + RUNNER_HEADROOM


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
                        "capabilities": {"drop": ["ALL"], "add": CAPABILITIES},
                    },
                }
            ],
            "volumes": [
                {"name": "grading", **plan.volume},
                {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
            ],
        },
    }
