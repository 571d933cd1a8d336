"""Grading pods as Kubernetes objects (pure): what the service asks the cluster to run.

A grading pod runs ``python -m coursehub.grading.runner .`` in ``/grading`` in the course image. It
shares no volume with the service: the runner fetches its batch into ``/grading`` (an
emptyDir) from the service and posts its results back (``transport``), with the batch's
address in ``COURSEHUB_GRADING_BATCH_URL`` and its token in ``COURSEHUB_GRADING_TOKEN``, from
the batch's own Secret (:func:`grading_secret`). It has no service account token, no service
links, an active deadline, the grading labels the NetworkPolicy selects (no ingress; egress
to the service's port only), seccomp's RuntimeDefault
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
from coursehub.grading.transport import SECRET_KEY, TOKEN_ENV, URL_ENV
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
    batch_url: str  # <service>/api/grading/batches/<batch id>
    secret_name: str  # the batch's Secret: its token under ``token``
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


def inputs_size(plan: PodPlan) -> int:
    """The batch as fetched: every submission's files (each within its disk share, which
    its folder must fit in) and cells, and the results the runner keeps until posted."""
    return plan.submissions * int(parse_quantity(plan.grading.disk)) + TMP_HEADROOM


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
                    "env": [
                        {"name": URL_ENV, "value": plan.batch_url},
                        {
                            "name": TOKEN_ENV,
                            "valueFrom": {
                                "secretKeyRef": {"name": plan.secret_name, "key": SECRET_KEY}
                            },
                        },
                    ],
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
                # The batch as fetched from the service: its inputs, then its results.
                {"name": "grading", "emptyDir": {"sizeLimit": str(inputs_size(plan))}},
                {"name": "tmp", "emptyDir": {"sizeLimit": str(tmp_size(grading))}},
            ],
        },
    }


def grading_secret(plan: PodPlan, token: str) -> dict:
    """The batch's token, for its pod's environment; deleted with the pod."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": plan.secret_name,
            "namespace": plan.namespace,
            "labels": {**plan.labels, "coursehub.io/job": plan.job_id[:63]},
        },
        "stringData": {SECRET_KEY: token},
    }


def grading_network_policy(
    name: str, namespace: str, labels: dict[str, str], service_peer: dict, service_port: int
) -> dict:
    """What the chart's ``netpol/grading.yaml`` makes, and ``coursehub dev`` makes in the dev
    cluster: nothing reaches grading pods, and they reach the service's port alone
    (``service_peer``: the service's pods in the chart, its address in the dev cluster), not
    even DNS (they get the service's address as an IP). In the users mode the runner checks
    that the Kubernetes API is unreachable before it runs any student code."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(labels)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                {"to": [dict(service_peer)], "ports": [{"protocol": "TCP", "port": service_port}]}
            ],
        },
    }
