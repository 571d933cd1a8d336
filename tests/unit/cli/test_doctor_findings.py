"""``coursehub doctor``'s judgement (``coursehub.cli.doctor_findings``): facts in, findings
out, each a sentence that says what is wrong and what to do."""

from __future__ import annotations

from coursehub.cli.doctor_findings import (
    ClusterFacts,
    Facts,
    HubFacts,
    ServiceFacts,
    diagnose,
    failed,
)

URL = "https://hub.example.edu"
ADMIN = {"name": "admin", "admin": True}
CATALOG = {
    "courses": [
        {
            "id": "ai-101",
            "title": "AI",
            "gpu_environments": [
                {"slug": "gpu", "count": 1, "resource": "nvidia.com/gpu", "product": "A100"}
            ],
            "shared_data_claims": [],
        }
    ],
    "problems": [],
}


def hub(**changes) -> HubFacts:
    values = {
        "url": URL,
        "reached": True,
        "status": 200,
        "version": "6.1.1",
        "token_status": 200,
        "user": ADMIN,
        "services": ["coursehub", "grader-ai-101"],
        "services_status": 200,
    }
    return HubFacts(**{**values, **changes})


def service(**changes) -> ServiceFacts:
    values = {
        "name": "coursehub",
        "health_status": 200,
        "health": {"status": "ok", "groups": {"synced": True}},
        "catalog_status": 200,
        "catalog": CATALOG,
    }
    return ServiceFacts(**{**values, **changes})


def node(name: str, allocatable: dict, labels: dict | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "status": {"allocatable": allocatable, "capacity": allocatable},
    }


A100_NODE = node("gpu-1", {"cpu": "8", "nvidia.com/gpu": "2"}, {"nvidia.com/gpu.product": "A100"})
MIG_NODE = node(
    "mig-1",
    {"cpu": "8", "nvidia.com/gpu": "0", "nvidia.com/mig-1g.10gb": "7"},
    {"nvidia.com/gpu.product": "A100", "nvidia.com/mig.strategy": "mixed"},
)
CPU_NODE = node("cpu-1", {"cpu": "16", "memory": "64Gi"})
DEFAULT_CLASS = {
    "metadata": {
        "name": "standard",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    },
    "provisioner": "ebs.csi.aws.com",
}


def cluster(**changes) -> ClusterFacts:
    values = {
        "context": "kubeconfig",
        "server": "https://k8s.example.edu",
        "nodes": [CPU_NODE, A100_NODE, MIG_NODE],
        "storage_classes": [DEFAULT_CLASS],
        "namespace": "coursehub",
        "namespace_labels": {"pod-security.kubernetes.io/enforce": "baseline"},
    }
    return ClusterFacts(**{**values, **changes})


def by_check(findings) -> dict[str, list]:
    result: dict[str, list] = {}
    for finding in findings:
        result.setdefault(finding.check, []).append(finding)
    return result


def problems(findings) -> list[str]:
    return [str(finding) for finding in findings if finding.verdict == "problem"]


def test_a_healthy_deployment_has_no_problem_and_says_what_it_saw():
    findings = diagnose(Facts(hub(), service(), cluster()))
    assert not failed(findings), problems(findings)
    text = "\n".join(str(finding) for finding in findings)
    assert "✓ hub: https://hub.example.edu answers: JupyterHub 6.1.1" in text
    assert "✓ token: belongs to admin, a hub admin" in text
    assert "✓ catalog: 1 valid course(s): ai-101" in text
    assert "gpu-1: 2 x nvidia.com/gpu (A100)" in text
    assert "mig-1: 7 x nvidia.com/mig-1g.10gb (A100, MIG mixed)" in text
    assert "default StorageClass standard (ebs.csi.aws.com)" in text
    assert "✓ pod security: namespace coursehub enforces baseline" in text


def test_an_unreachable_hub_is_one_problem_and_the_rest_is_skipped():
    findings = diagnose(Facts(hub(reached=False, error="Connection refused"), None, cluster()))
    checks = by_check(findings)
    (problem,) = [f for f in findings if f.verdict == "problem"]
    assert problem.check == "hub" and "Connection refused" in problem.sentence
    assert "--hub-url" in problem.sentence
    assert {f.verdict for f in checks["service"] + checks["catalog"]} == {"skipped"}


def test_something_else_than_jupyterhub_at_the_url():
    findings = diagnose(Facts(hub(status=404, version=None), None, None))
    assert "answered HTTP 404, not JupyterHub's API" in problems(findings)[0]


def test_a_refused_token_says_how_to_get_a_new_one():
    findings = diagnose(Facts(hub(token_status=403, user=None), service(), cluster()))
    (problem,) = problems(findings)
    assert "refuses the token (HTTP 403)" in problem and "COURSEHUB_TOKEN" in problem
    assert by_check(findings)["catalog"][0].verdict == "skipped"


def test_a_token_of_someone_who_is_not_an_admin():
    user = {"name": "student1", "admin": False}
    findings = diagnose(Facts(hub(user=user), service(), cluster()))
    assert any("student1, who is not a hub admin" in p for p in problems(findings))


def test_a_service_token_with_the_admin_scopes_counts_as_an_admins():
    user = {"kind": "service", "name": "ops", "admin": False, "scopes": ["admin:users"]}
    findings = diagnose(Facts(hub(user=user), service(), cluster()))
    assert not failed(findings)
    assert "✓ token: belongs to service ops, a hub admin" in [str(f) for f in findings]


def test_an_unregistered_service_names_the_values_to_set():
    findings = diagnose(Facts(hub(services=["grader-ai-101"]), service(), cluster()))
    (problem,) = problems(findings)
    assert "no service named coursehub (it has: grader-ai-101)" in problem
    assert "jupyterhub.hub.services.coursehub" in problem


def test_a_registered_service_that_does_not_answer():
    down = service(health_status=0, health=None, health_error="no answer within 5 s")
    (problem,) = problems(diagnose(Facts(hub(), down, cluster())))
    assert "registered but not healthy" in problem and "no answer within 5 s" in problem
    assert "kubectl logs deploy/coursehub-service" in problem
    (problem,) = problems(diagnose(Facts(hub(), service(health_status=503, health=None), None)))
    assert "it answered HTTP 503" in problem
    # A token that may not list services cannot tell whether it is registered.
    unlisted = hub(services=None, services_status=403)
    (problem,) = problems(diagnose(Facts(unlisted, down, None)))
    assert "the coursehub service is not healthy" in problem


def test_catalog_problems_are_listed_with_the_fix():
    broken = {**CATALOG, "problems": ["/etc/coursehub/courses/x/course.yaml:3: id: bad"]}
    (problem,) = problems(diagnose(Facts(hub(), service(catalog=broken), cluster())))
    assert "1 problem(s)" in problem and "course.yaml:3: id: bad" in problem
    assert "coursehub course validate" in problem
    empty = {"courses": [], "problems": []}
    (problem,) = problems(diagnose(Facts(hub(), service(catalog=empty), cluster())))
    assert "has no course" in problem


def test_no_gpu_node_says_what_to_install():
    findings = diagnose(Facts(hub(), service(), cluster(nodes=[CPU_NODE])))
    # One sentence, not one more per GPU environment of the catalog.
    (gpu,) = problems(findings)
    assert gpu.startswith("✗ GPU nodes: none of the 1 node(s) advertises a GPU")
    assert "device plugin" in gpu


def test_nodes_labelled_for_gpus_without_the_device_plugin_are_named():
    labelled = node("gpu-9", {"cpu": "8"}, {"nvidia.com/gpu.present": "true"})
    findings = diagnose(Facts(hub(), service(catalog=None), cluster(nodes=[labelled])))
    assert any("gpu-9 carry NVIDIA labels but advertise no GPU" in p for p in problems(findings))


def test_a_gpu_environment_no_node_offers():
    catalog = {
        "courses": [
            {
                "id": "ml-201",
                "title": "ML",
                "gpu_environments": [
                    {"slug": "h100", "count": 1, "resource": "nvidia.com/gpu", "product": "H100"}
                ],
                "shared_data_claims": [],
            }
        ],
        "problems": [],
    }
    (problem,) = problems(diagnose(Facts(hub(), service(catalog=catalog), cluster())))
    assert "ml-201's environment h100 asks for 1 x nvidia.com/gpu on nodes labelled" in problem
    assert "the nodes offer 0" in problem


def test_shared_gpus_show_their_replicas():
    shared = node(
        "t4-1",
        {"nvidia.com/gpu.shared": "8"},
        {"nvidia.com/gpu.product": "Tesla-T4", "nvidia.com/gpu.replicas": "4"},
    )
    findings = diagnose(Facts(hub(), service(catalog=None), cluster(nodes=[shared])))
    gpu = by_check(findings)["GPU nodes"][0]
    assert gpu.verdict == "ok" and "8 x nvidia.com/gpu.shared (Tesla-T4, 4 replicas per GPU)" in (
        gpu.sentence
    )


def test_no_default_storage_class_says_how_to_mark_one():
    other = {"metadata": {"name": "slow"}, "provisioner": "ebs.csi.aws.com"}
    (problem,) = problems(diagnose(Facts(hub(), service(), cluster(storage_classes=[other]))))
    assert "no StorageClass is the cluster's default (it has slow)" in problem
    assert "storageclass.kubernetes.io/is-default-class=true" in problem
    (problem,) = problems(diagnose(Facts(hub(), service(), cluster(storage_classes=[]))))
    assert "it has none at all" in problem


def test_read_write_many_is_checked_only_where_needed():
    shared = {
        "courses": [{**CATALOG["courses"][0], "shared_data_claims": ["ai-101-datasets"]}],
        "problems": [],
    }
    storage = by_check(diagnose(Facts(hub(), service(catalog=shared), cluster())))["storage"]
    assert storage[-1].verdict == "warning" and "ai-101-datasets" in storage[-1].sentence
    nfs = {"metadata": {"name": "nfs"}, "provisioner": "nfs.csi.k8s.io"}
    facts = Facts(hub(), service(catalog=shared), cluster(storage_classes=[DEFAULT_CLASS, nfs]))
    storage = by_check(diagnose(facts))["storage"]
    assert storage[-1].verdict == "ok" and storage[-1].sentence.endswith(": nfs")
    # Without shared data, one replica: nothing needs ReadWriteMany.
    assert len(by_check(diagnose(Facts(hub(), service(), cluster())))["storage"]) == 1
    replicas = by_check(diagnose(Facts(hub(), service(), cluster(), service_replicas=2)))
    assert "2 replicas" in replicas["storage"][-1].sentence


def test_two_default_classes_are_a_warning():
    second = {**DEFAULT_CLASS, "metadata": {**DEFAULT_CLASS["metadata"], "name": "fast"}}
    findings = diagnose(Facts(hub(), service(), cluster(storage_classes=[DEFAULT_CLASS, second])))
    assert not failed(findings)
    assert by_check(findings)["storage"][0].verdict == "warning"


def test_a_cluster_that_cannot_be_asked():
    findings = diagnose(Facts(hub(), service(), ClusterFacts("k", error="Connection refused")))
    (problem,) = problems(findings)
    assert "cannot ask the Kubernetes API (Connection refused)" in problem
    forbidden = cluster(nodes=None, nodes_error="HTTP 403 Forbidden")
    (problem,) = problems(diagnose(Facts(hub(), service(), forbidden)))
    assert "cannot list nodes (HTTP 403 Forbidden)" in problem


def test_a_namespace_without_pod_security_is_a_warning_with_the_command():
    for labels in ({}, {"pod-security.kubernetes.io/enforce": "privileged"}):
        findings = diagnose(Facts(hub(), service(), cluster(namespace_labels=labels)))
        assert not failed(findings)
        (warning,) = [f for f in findings if f.check == "pod security"]
        assert warning.verdict == "warning"
        assert "kubectl label namespace coursehub --overwrite " in warning.sentence
        assert "pod-security.kubernetes.io/enforce=baseline" in warning.sentence


def test_a_restricted_namespace_would_refuse_grading_pods():
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    (problem,) = problems(diagnose(Facts(hub(), service(), cluster(namespace_labels=labels))))
    assert "enforces restricted, which refuses every grading pod" in problem


def test_an_unreadable_namespace_names_the_option():
    facts = cluster(namespace_labels=None, namespace_error="HTTP 404 Not Found")
    (problem,) = problems(diagnose(Facts(hub(), service(), facts)))
    assert "cannot read namespace coursehub (HTTP 404 Not Found)" in problem
    assert "--namespace" in problem
