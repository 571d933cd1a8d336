"""``coursehub doctor``'s judgement: facts about a deployment in, findings out. Pure.

``coursehub.cli.doctor`` gathers the facts (HTTP to the hub and through it to the coursehub
service, the Kubernetes API with the admin's kubeconfig) into the dataclasses below;
``diagnose(facts)`` turns them into ``Finding``s, each a plain sentence that says what is
wrong and what to do. A check whose facts could not be gathered because an earlier one
failed (no hub, no token) is ``skipped``, not failed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from coursehub.gpu.nodes import count_gpus, is_gpu_slice
from coursehub.names import GPU_PRODUCT_LABEL, GPU_REPLICAS_LABEL

Verdict = Literal["ok", "problem", "warning", "skipped"]
MARKS = {"ok": "✓", "problem": "✗", "warning": "!", "skipped": "-"}

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
# Provisioners whose volumes many pods on many nodes mount at once (ReadWriteMany). A
# StorageClass does not say which access modes it offers; these are the file-system
# provisioners of the usual clouds and on-premises storage, and the dev cluster's folders.
RWX_PROVISIONERS = (
    "nfs.csi.k8s.io",
    "cluster.local/nfs-subdir-external-provisioner",
    "k8s-sigs.io/nfs-subdir-external-provisioner",
    "cephfs.csi.ceph.com",
    "rook-ceph.cephfs.csi.ceph.com",
    "efs.csi.aws.com",
    "filestore.csi.storage.gke.io",
    "file.csi.azure.com",
    "kubernetes.io/azure-file",
    "kubernetes.io/cephfs",
    "kubernetes.io/glusterfs",
    "driver.longhorn.io",
    "coursehub.dev/folder",
)
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
# Resources the NVIDIA device plugin advertises: whole GPUs, time-sliced replicas, MIG slices.
WHOLE_GPU = "nvidia.com/gpu"
SHARED_GPU = "nvidia.com/gpu.shared"


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    check: str  # a short name: "hub", "token", "service", ...
    sentence: str

    def __str__(self) -> str:
        return f"{MARKS[self.verdict]} {self.check}: {self.sentence}"


@dataclass(frozen=True)
class HubFacts:
    """``reached``: ``/hub/api/`` answered at all (``error``: why not); ``status`` and
    ``version`` of that answer; ``token_status`` and ``user``: ``/hub/api/user`` with the
    token; ``services``: the names ``/hub/api/services`` lists (None: not asked or
    refused, ``services_status``)."""

    url: str
    reached: bool
    error: str = ""
    status: int = 0
    version: str | None = None
    token_status: int = 0
    user: dict | None = None
    services: list[str] | None = None
    services_status: int = 0


@dataclass(frozen=True)
class ServiceFacts:
    """The coursehub service through the hub: its health endpoint (``health_status``, 0
    when nothing answered: ``health_error``) and ``api/catalog`` with the token."""

    name: str
    health_status: int = 0
    health: dict | None = None
    health_error: str = ""
    catalog_status: int = 0
    catalog: dict | None = None
    catalog_error: str = ""


@dataclass(frozen=True)
class ClusterFacts:
    """What the kubeconfig's user reads: ``error`` when the API could not be asked at all;
    ``nodes`` and ``storage_classes`` as JSON dicts (None with ``*_error`` when refused)."""

    context: str
    error: str = ""
    server: str = ""
    nodes: list[dict] | None = None
    nodes_error: str = ""
    storage_classes: list[dict] | None = None
    storage_classes_error: str = ""
    # The release namespace (hub, service, grading pods): its labels, None when unread.
    namespace: str = "default"
    namespace_labels: dict | None = None
    namespace_error: str = ""


@dataclass(frozen=True)
class Facts:
    hub: HubFacts
    service: ServiceFacts | None = None
    cluster: ClusterFacts | None = None
    # What grading needs of storage besides the catalog's shared data: ReadWriteMany for
    # the service's store when it runs more than one replica (--service-replicas).
    service_replicas: int = 1


def is_admin(user: dict | None) -> bool:
    """A hub admin's token, or a token that may administer every user (as the service's
    ``Caller`` reads it): e.g. a service's token with the admin scopes."""
    if not user:
        return False
    return bool(user.get("admin")) or "admin:users" in (user.get("scopes") or ())


def owner(user: dict) -> str:
    name = user.get("name")
    return f"service {name}" if user.get("kind") == "service" else str(name)


def diagnose(facts: Facts) -> list[Finding]:
    findings = judge_hub(facts.hub)
    hub_ok = facts.hub.reached and facts.hub.status == 200
    token_ok = hub_ok and facts.hub.token_status == 200 and is_admin(facts.hub.user)
    findings += judge_service(facts.service, facts.hub, token_ok)
    catalog = facts.service.catalog if facts.service and facts.service.catalog else None
    findings += judge_cluster(facts.cluster, catalog, facts.service_replicas)
    return findings


def failed(findings: list[Finding]) -> bool:
    return any(finding.verdict == "problem" for finding in findings)


# ----- the hub ----------------------------------------------------------------------------


def judge_hub(hub: HubFacts) -> list[Finding]:
    if not hub.reached:
        return [
            Finding(
                "problem",
                "hub",
                f"nothing answers at {hub.url} ({hub.error}): check --hub-url (the hub's "
                "public address, as students open it) and that the proxy runs "
                "(kubectl get pods -l component=proxy)",
            ),
            Finding("skipped", "token", "not checked: the hub did not answer"),
        ]
    if hub.status != 200 or hub.version is None:
        return [
            Finding(
                "problem",
                "hub",
                f"{hub.url}/hub/api/ answered HTTP {hub.status}, not JupyterHub's API: is "
                "--hub-url the hub's address (without /hub)?",
            ),
            Finding("skipped", "token", "not checked: the hub's API did not answer"),
        ]
    findings = [Finding("ok", "hub", f"{hub.url} answers: JupyterHub {hub.version}")]
    if hub.token_status in (401, 403):
        findings.append(
            Finding(
                "problem",
                "token",
                f"the hub refuses the token (HTTP {hub.token_status}): it is expired, revoked "
                "or from another hub; make one on the hub's Token page, signed in as an "
                "admin, and put it in COURSEHUB_TOKEN (or pass --token)",
            )
        )
    elif hub.token_status != 200 or hub.user is None:
        findings.append(
            Finding(
                "problem",
                "token",
                f"the hub answered HTTP {hub.token_status} when asked whose the token is",
            )
        )
    elif not is_admin(hub.user):
        findings.append(
            Finding(
                "problem",
                "token",
                f"the token belongs to {owner(hub.user)}, who is not a hub admin: "
                "doctor reads the hub's services and the deployment's catalog, which only "
                "admins may; use an admin's token",
            )
        )
    else:
        findings.append(Finding("ok", "token", f"belongs to {owner(hub.user)}, a hub admin"))
    return findings


# ----- the coursehub service --------------------------------------------------------------


def judge_service(service: ServiceFacts | None, hub: HubFacts, token_ok: bool) -> list[Finding]:
    if service is None or not (hub.reached and hub.status == 200):
        return [
            Finding("skipped", "service", "not checked: the hub did not answer"),
            Finding("skipped", "catalog", "not checked: the hub did not answer"),
        ]
    findings = []
    name = service.name
    if hub.services is not None and name not in hub.services:
        listed = ", ".join(sorted(hub.services)) or "none"
        findings.append(
            Finding(
                "problem",
                "service",
                f"the hub has no service named {name} (it has: {listed}): register it in "
                f"jupyterhub.hub.services.{name} with its URL, as the chart's values.yaml "
                "does, and keep service.enabled true; without it there is no exchange, no "
                "grading, no sign-in and every GPU spawn is refused",
            )
        )
        findings.append(Finding("skipped", "catalog", f"not checked: {name} is not registered"))
        return findings
    if service.health_status != 200 or (service.health or {}).get("status") != "ok":
        if service.health_status == 0:
            why = f"nothing answered ({service.health_error})"
        else:
            why = f"it answered HTTP {service.health_status}"
        known = "is registered but not healthy" if hub.services is not None else "is not healthy"
        findings.append(
            Finding(
                "problem",
                "service",
                f"the {name} service {known}: its health check "
                f"({hub.url}/services/{name}/api/health) failed, {why}; look at its pod "
                f"(kubectl logs deploy/{name}-service) and its readiness",
            )
        )
        findings.append(Finding("skipped", "catalog", f"not checked: {name} does not answer"))
        return findings
    groups = (service.health or {}).get("groups") or {}
    if groups.get("disabled"):
        findings.append(
            Finding(
                "warning",
                "service",
                f"{name} answers, but has no hub API token: course groups are not kept in "
                "step and GPU limits are not enforced (give it JUPYTERHUB_API_TOKEN)",
            )
        )
    elif hub.services is None:
        findings.append(
            Finding(
                "ok",
                "service",
                f"{name} answers its health check (the token may not list the hub's services "
                f"(HTTP {hub.services_status}), so its registration was not read)",
            )
        )
    else:
        findings.append(
            Finding("ok", "service", f"{name} is registered with the hub and answers healthy")
        )
    findings.append(judge_catalog(service, token_ok))
    return findings


def judge_catalog(service: ServiceFacts, token_ok: bool) -> Finding:
    if not token_ok:
        return Finding("skipped", "catalog", "not checked: it needs an admin's token")
    if service.catalog is None:
        why = service.catalog_error or f"HTTP {service.catalog_status}"
        return Finding(
            "problem",
            "catalog",
            f"the {service.name} service would not give its catalog ({why}); an admin's "
            "token needs the custom:coursehub:staff scope, which the coursehub-admins role "
            "grants",
        )
    problems = service.catalog.get("problems") or []
    courses = [course["id"] for course in service.catalog.get("courses") or []]
    if problems:
        listed = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
        return Finding(
            "problem",
            "catalog",
            f"{len(problems)} problem(s) in the deployment's course files, whose courses are "
            f"left out until fixed: {listed}. Fix them (coursehub course validate courses), "
            "then make helm-catalog and helm upgrade",
        )
    if not courses:
        return Finding(
            "problem",
            "catalog",
            "the deployment has no course: nobody can start a server; add courses/<id>/"
            "course.yaml, then make helm-catalog and helm upgrade",
        )
    return Finding("ok", "catalog", f"{len(courses)} valid course(s): {', '.join(sorted(courses))}")


# ----- the cluster ------------------------------------------------------------------------


def _labels(node: dict) -> dict:
    return (node.get("metadata") or {}).get("labels") or {}


def gpu_resources(node: dict) -> dict[str, str]:
    """The GPU resources a node advertises (allocatable, else capacity), non-zero only."""
    status = node.get("status") or {}
    resources = status.get("allocatable") or status.get("capacity") or {}
    found = {}
    for name, amount in resources.items():
        is_gpu = name in (WHOLE_GPU, SHARED_GPU) or is_gpu_slice(name)
        if is_gpu and str(amount) not in ("0", ""):
            found[name] = str(amount)
    return found


def describe_gpu_node(node: dict) -> str:
    """``gpu-a100-1: 2 x nvidia.com/gpu (NVIDIA-A100-SXM4-80GB)``, with replicas and MIG."""
    labels = _labels(node)
    parts = [f"{amount} x {name}" for name, amount in sorted(gpu_resources(node).items())]
    text = f"{node['metadata']['name']}: {', '.join(parts)}"
    product = labels.get(GPU_PRODUCT_LABEL)
    details = [product] if product else []
    if labels.get(GPU_REPLICAS_LABEL):
        details.append(f"{labels[GPU_REPLICAS_LABEL]} replicas per GPU")
    if labels.get("nvidia.com/mig.strategy"):
        details.append(f"MIG {labels['nvidia.com/mig.strategy']}")
    return text + (f" ({', '.join(details)})" if details else "")


def judge_cluster(
    cluster: ClusterFacts | None, catalog: dict | None, service_replicas: int
) -> list[Finding]:
    if cluster is None:
        return [Finding("skipped", "cluster", "not checked (--no-cluster)")]
    if cluster.error:
        return [
            Finding(
                "problem",
                "cluster",
                f"cannot ask the Kubernetes API ({cluster.error}): pass --kubeconfig and "
                "--context for the cluster the hub runs on",
            )
        ]
    return [
        Finding("ok", "cluster", f"the Kubernetes API at {cluster.server} answers"),
        *judge_gpu_nodes(cluster, catalog),
        *judge_storage(cluster, catalog, service_replicas),
        judge_pod_security(cluster),
    ]


def judge_gpu_nodes(cluster: ClusterFacts, catalog: dict | None) -> list[Finding]:
    if cluster.nodes is None:
        return [
            Finding(
                "problem",
                "GPU nodes",
                f"cannot list nodes ({cluster.nodes_error}): your kubeconfig's user needs "
                "get/list on nodes",
            )
        ]
    gpu_nodes = [node for node in cluster.nodes if gpu_resources(node)]
    if not gpu_nodes:
        labelled = [
            node["metadata"]["name"]
            for node in cluster.nodes
            if _labels(node).get("nvidia.com/gpu.present") == "true"
            or GPU_PRODUCT_LABEL in _labels(node)
        ]
        hint = (
            f" ({', '.join(labelled)} carry NVIDIA labels but advertise no GPU: is the device "
            "plugin running there?)"
            if labelled
            else ""
        )
        return [
            Finding(
                "problem",
                "GPU nodes",
                f"none of the {len(cluster.nodes)} node(s) advertises a GPU (nvidia.com/gpu, "
                f"nvidia.com/gpu.shared or nvidia.com/mig-*){hint}: GPU environments cannot "
                "start; install the NVIDIA GPU operator or device plugin (docs/deploy.md, "
                "step 2)",
            )
        ]
    findings = [
        Finding(
            "ok",
            "GPU nodes",
            f"{len(gpu_nodes)} node(s) advertise GPUs: "
            + "; ".join(describe_gpu_node(node) for node in gpu_nodes),
        )
    ]
    for course in (catalog or {}).get("courses") or []:
        for environment in course.get("gpu_environments") or []:
            resource, product = environment["resource"], environment.get("product")
            offered = count_gpus(cluster.nodes, resource, product)
            if offered >= environment["count"]:
                continue
            on = f" on nodes labelled {GPU_PRODUCT_LABEL}={product}" if product else ""
            findings.append(
                Finding(
                    "problem",
                    "GPU nodes",
                    f"{course['id']}'s environment {environment['slug']} asks for "
                    f"{environment['count']} x {resource}{on}, and the nodes offer "
                    f"{offered}: its servers would wait forever; fix gpu.resource/gpu.product "
                    "in the course file or add such nodes",
                )
            )
    return findings


def is_default(storage_class: dict) -> bool:
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return "true" in (
        annotations.get(DEFAULT_CLASS_ANNOTATION),
        annotations.get(BETA_DEFAULT_CLASS_ANNOTATION),
    )


def offers_rwx(storage_class: dict) -> bool:
    return storage_class.get("provisioner") in RWX_PROVISIONERS


def judge_storage(
    cluster: ClusterFacts, catalog: dict | None, service_replicas: int
) -> list[Finding]:
    if cluster.storage_classes is None:
        return [
            Finding(
                "problem",
                "storage",
                f"cannot list storage classes ({cluster.storage_classes_error}): your "
                "kubeconfig's user needs list on storageclasses.storage.k8s.io",
            )
        ]
    classes = cluster.storage_classes
    names = [storage_class["metadata"]["name"] for storage_class in classes]
    defaults = [storage_class for storage_class in classes if is_default(storage_class)]
    findings = []
    if not defaults:
        have = f"it has {', '.join(names)}" if names else "it has none at all"
        findings.append(
            Finding(
                "problem",
                "storage",
                f"no StorageClass is the cluster's default ({have}): home folders and the "
                "service's store ask for the default class and stay Pending; mark one "
                "with kubectl annotate storageclass NAME "
                f"{DEFAULT_CLASS_ANNOTATION}=true, or name a class in "
                "jupyterhub.singleuser.storage.dynamic.storageClass and "
                "service.storage.storageClassName",
            )
        )
    elif len(defaults) > 1:
        findings.append(
            Finding(
                "warning",
                "storage",
                f"{len(defaults)} StorageClasses are marked default "
                f"({', '.join(c['metadata']['name'] for c in defaults)}): Kubernetes picks the "
                "newest; keep one",
            )
        )
    else:
        default = defaults[0]
        findings.append(
            Finding(
                "ok",
                "storage",
                f"default StorageClass {default['metadata']['name']} "
                f"({default.get('provisioner')})",
            )
        )
    claims = sorted(
        {
            claim
            for course in (catalog or {}).get("courses") or []
            for claim in course.get("shared_data_claims") or []
        }
    )
    needs = []
    if claims:
        needs.append(f"the courses' shared data ({', '.join(claims)})")
    if service_replicas > 1:
        needs.append(f"the service's store with {service_replicas} replicas (grading reads it)")
    if not needs:
        return findings
    rwx = [c["metadata"]["name"] for c in classes if offers_rwx(c)]
    if rwx:
        findings.append(
            Finding(
                "ok",
                "storage",
                f"ReadWriteMany, which {' and '.join(needs)} need(s): {', '.join(rwx)}",
            )
        )
    else:
        findings.append(
            Finding(
                "warning",
                "storage",
                f"{' and '.join(needs)} need(s) ReadWriteMany, and no StorageClass has a "
                "provisioner known to offer it (NFS, CephFS, EFS, Filestore, Azure Files): "
                "set sharedData.storageClassName (and service.storage.storageClassName) to "
                "one that does, or check your provisioner's documentation",
            )
        )
    return findings


def judge_pod_security(cluster: ClusterFacts) -> Finding:
    """The release namespace's Pod Security Admission level (docs/deploy.md step 9):
    ``baseline`` is right; none or ``privileged`` lets anyone who may create pods there
    run privileged ones (a warning: the platform works, less safely); ``restricted``
    refuses every grading pod (they start as root with six capabilities)."""
    namespace = cluster.namespace
    label_command = (
        f"kubectl label namespace {namespace} --overwrite {PSA_ENFORCE}=baseline "
        "pod-security.kubernetes.io/warn=restricted"
    )
    if cluster.namespace_labels is None:
        return Finding(
            "problem",
            "pod security",
            f"cannot read namespace {namespace} ({cluster.namespace_error}): pass "
            "--namespace, the namespace of the release",
        )
    level = cluster.namespace_labels.get(PSA_ENFORCE)
    if level == "baseline":
        return Finding("ok", "pod security", f"namespace {namespace} enforces baseline")
    if level == "restricted":
        return Finding(
            "problem",
            "pod security",
            f"namespace {namespace} enforces restricted, which refuses every grading pod "
            f"(they start as root with SETUID, SETGID, CHOWN, DAC_OVERRIDE, FOWNER and KILL "
            f"to give each submission a user of its own): {label_command}",
        )
    what = "has no Pod Security label" if level is None else f"enforces {level}"
    return Finding(
        "warning",
        "pod security",
        f"namespace {namespace} {what}: the API server would admit privileged pods there "
        f"from anyone who may create pods; {label_command}",
    )
