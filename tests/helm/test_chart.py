"""The Helm chart (helm/coursehub), rendered by Helm's own engine and validated.

No cluster here: the chart is rendered with helm-python-sdk (Helm's Go SDK), with the
Zero to JupyterHub dependency disabled because it cannot be fetched offline, and every
manifest is validated against the Kubernetes OpenAPI schemas (kubernetes-validate). The
z2jh part of the values is checked as values (what the hub mounts and runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from chart_render import (
    CHART_DIR,
    NAMESPACE,
    OFFLINE,
    REPO_ROOT,
    everything_values,
    find,
    manifests,
    merge,
    one,
    render,
    render_for_kubernetes,
)

from coursehub.catalog.loader import load_catalog
from coursehub.hub.objects import shared_data_claims

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion), the oldest with the
# grading pods' ValidatingAdmissionPolicy (on by default), and the newest the validator ships.
KUBE_VERSIONS = ["1.28.0", "1.30.0", kubernetes_validate.latest_version()]
POLICY_SINCE = (1, 30)


def _load_sync_script():
    spec = importlib.util.spec_from_file_location(
        "sync_helm_catalog", REPO_ROOT / "scripts" / "sync_helm_catalog.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_helm_catalog = _load_sync_script()


@pytest.fixture(scope="module")
def chart():
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def default_objects(chart) -> list[dict]:
    return render(chart, {})


@pytest.fixture(scope="module")
def everything_objects(chart) -> list[dict]:
    return render(chart, everything_values())


# --- every manifest is a valid Kubernetes object -------------------------------------------


@pytest.mark.parametrize("values_name", ["default", "everything"])
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_manifest_validates_against_kubernetes_schemas(chart, values_name, kube_version):
    values = {} if values_name == "default" else everything_values()
    if tuple(int(part) for part in kube_version.split(".")[:2]) < POLICY_SINCE:
        # The chart refuses the policy there (test_grading_admission); admins switch it off.
        values = merge(values, {"grading": {"admissionPolicy": {"enabled": False}}})
    objects = render_for_kubernetes(chart, values, f"v{kube_version}")
    assert len(objects) >= 8
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message}")


def test_everything_values_render_every_template(chart, everything_objects):
    kinds = {o["kind"] for o in everything_objects}
    assert kinds == {
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "PriorityClass",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "NetworkPolicy",
        "ServiceAccount",
        "Service",
        "Deployment",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }


def test_helm_lint_finds_nothing_but_the_offline_dependency(chart):
    report = helm.lint(CHART_DIR, OFFLINE, strict=True, namespace=NAMESPACE)
    problems = [m["error"] for m in report["messages"] if m["severity"] >= 2]
    assert problems == ["chart directory is missing these dependencies: jupyterhub"]


# --- the catalog ---------------------------------------------------------------------------


def test_catalog_configmap_holds_both_sample_courses(default_objects):
    configmap = one(default_objects, "ConfigMap", "coursehub-catalog")
    courses = REPO_ROOT / "courses"
    assert configmap["data"] == {
        "ai-101__course.yaml": (courses / "ai-101" / "course.yaml").read_text(),
        "ai-101__roster.csv": (courses / "ai-101" / "roster.csv").read_text(),
        "ml-201__course.yaml": (courses / "ml-201" / "course.yaml").read_text(),
        "ml-201__roster.csv": (courses / "ml-201" / "roster.csv").read_text(),
        # the assignment source travels with the catalog (unpacked to source/ps1/)
        "ai-101__source__ps1__ps1.ipynb": (
            courses / "ai-101" / "source" / "ps1" / "ps1.ipynb"
        ).read_text(),
    }


def test_chart_copy_of_the_catalog_matches_courses():
    assert sync_helm_catalog.main(["--check"]) == 0, "run `make helm-catalog`"


def test_sync_copies_the_catalog_and_records_its_checksum(tmp_path):
    chart_dir = tmp_path / "chart"
    chart_dir.mkdir()
    (chart_dir / "values.yaml").write_text(
        'jupyterhub:\n  hub:\n    annotations:\n      checksum/catalog: "old"\n'
    )
    courses = tmp_path / "courses"
    (courses / "c1").mkdir(parents=True)
    (courses / "c1" / "course.yaml").write_text("id: c1\n")
    (courses / "_drafts").mkdir()
    (courses / "_drafts" / "course.yaml").write_text("id: draft\n")

    assert sync_helm_catalog.sync(courses, chart_dir) is True
    copied = sync_helm_catalog.catalog_files(chart_dir / "files" / "courses")
    assert copied == {"c1/course.yaml": b"id: c1\n"}
    content_sha = hashlib.sha256(b"id: c1\n").hexdigest()
    lines = f"files/courses/c1/course.yaml {content_sha}\n"
    expected = hashlib.sha256(lines.encode()).hexdigest()
    assert f'checksum/catalog: "{expected}"' in (chart_dir / "values.yaml").read_text()
    assert sync_helm_catalog.sync(courses, chart_dir) is False


def test_catalog_checksum_is_the_one_helm_computes(default_objects):
    configmap = one(default_objects, "ConfigMap", "coursehub-catalog")
    files = sync_helm_catalog.catalog_files(CHART_DIR / "files" / "courses")
    helm_checksum = configmap["metadata"]["annotations"]["coursehub.io/catalog-checksum"]
    assert helm_checksum == sync_helm_catalog.catalog_checksum(files)


def test_stale_catalog_checksum_is_refused_naming_the_fix(chart):
    stale = {"jupyterhub": {"hub": {"annotations": {"checksum/catalog": "0" * 64}}}}
    with pytest.raises(helm.HelmRenderError) as refused:
        render(chart, stale)
    assert "jupyterhub.hub.annotations.checksum/catalog" in str(refused.value)
    assert "make helm-catalog" in str(refused.value)


def test_unpack_script_restores_a_catalog_the_loader_accepts(default_objects, tmp_path):
    """What the hub's init container does, run for real on the rendered ConfigMap."""
    flat = tmp_path / "catalog-flat"
    flat.mkdir()
    # The kubelet projects each key as a file (and hidden ..data bookkeeping).
    (flat / "..data").mkdir()
    for key, content in one(default_objects, "ConfigMap", "coursehub-catalog")["data"].items():
        (flat / key).write_text(content)
    script = one(default_objects, "ConfigMap", "coursehub-catalog-unpack")["data"]
    (tmp_path / "unpack-catalog.sh").write_text(script["unpack-catalog.sh"])
    unpacked = tmp_path / "courses"
    unpacked.mkdir()
    subprocess.run(
        ["sh", str(tmp_path / "unpack-catalog.sh")],
        env={"CATALOG_FLAT_DIR": str(flat), "CATALOG_DIR": str(unpacked), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    catalog = load_catalog(unpacked)
    assert catalog.problems == ()
    assert sorted(catalog.courses) == ["ai-101", "ml-201"]
    assert len(catalog.courses["ai-101"].students) == len(
        load_catalog(REPO_ROOT / "courses").courses["ai-101"].students
    )


@pytest.mark.parametrize("values_name", ["default", "everything"])
def test_hub_mounts_the_unpacked_catalog_where_it_reads_it(chart, values_name):
    values = chart.merge_values({} if values_name == "default" else everything_values())
    hub = values["jupyterhub"]["hub"]
    configmap_name = values["catalog"]["configMapName"]
    volumes = {v["name"]: v for v in hub["extraVolumes"]}
    assert volumes["catalog-flat"]["configMap"]["name"] == configmap_name
    assert volumes["catalog-unpack"]["configMap"]["name"] == f"{configmap_name}-unpack"
    assert "emptyDir" in volumes["catalog"]

    courses_dir = hub["extraEnv"]["COURSEHUB_COURSES_DIR"]
    assert {"name": "catalog", "mountPath": courses_dir, "readOnly": True} in hub[
        "extraVolumeMounts"
    ]
    (unpack,) = hub["initContainers"]
    assert unpack["image"] == f"{hub['image']['name']}:{hub['image']['tag']}"
    mounts = {m["name"]: m["mountPath"] for m in unpack["volumeMounts"]}
    assert mounts["catalog"] == courses_dir
    assert unpack["command"] == ["sh", f"{mounts['catalog-unpack']}/unpack-catalog.sh"]
    # The script's default source is where the ConfigMap is mounted.
    assert mounts["catalog-flat"] == "/etc/coursehub/catalog-flat"
    assert hub["annotations"]["checksum/catalog"] == sync_helm_catalog.catalog_checksum(
        sync_helm_catalog.catalog_files(CHART_DIR / "files" / "courses")
    )


def test_hub_runs_coursehub_configure_after_z2jh(chart):
    hub = chart.merge_values({})["jupyterhub"]["hub"]
    snippet = hub["extraConfig"]["coursehub"]
    compile(snippet, "hub.extraConfig.coursehub", "exec")
    assert "configure(c)" in snippet
    env = hub["extraEnv"]
    assert env["COURSEHUB_MODE"] == "production"
    # z2jh's object names with fullnameOverride "" (kept in values.yaml).
    assert env["COURSEHUB_HUB_CONNECT_URL"] == "http://hub:8081"
    assert env["COURSEHUB_PROXY_API_URL"] == "http://proxy-api:8001"
    assert chart.merge_values({})["jupyterhub"]["fullnameOverride"] == ""
    # In production configure() leaves the pod's start timeout and home to z2jh's values.
    singleuser = chart.merge_values({})["jupyterhub"]["singleuser"]
    assert singleuser["startTimeout"] >= 900, "a GPU wait needs more than z2jh's 300 s"
    assert "COURSEHUB_START_TIMEOUT" not in env
    assert singleuser["storage"]["capacity"] == "10Gi"


def test_removing_the_catalog_volume_is_refused(chart):
    values = {"jupyterhub": {"enabled": True, "hub": {"extraVolumes": []}}}
    with pytest.raises(helm.HelmRenderError, match=r"jupyterhub\.hub\.extraVolumes"):
        chart.render(values, name="coursehub", namespace=NAMESPACE)


# --- course shared data, priorities --------------------------------------------------------


def test_shared_data_claims_are_the_ones_the_hub_mounts(default_objects):
    catalog = load_catalog(REPO_ROOT / "courses")
    wanted = shared_data_claims(list(catalog.courses.values()), NAMESPACE)
    claims = [
        c
        for c in find(default_objects, "PersistentVolumeClaim")
        if c["metadata"]["labels"].get("coursehub.io/course")
    ]
    assert [c["metadata"]["name"] for c in claims] == [c["metadata"]["name"] for c in wanted]
    (claim,) = claims
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["labels"]["coursehub.io/course"] == "ai-101"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_shared_data_claim_overrides_apply(everything_objects):
    claim = one(everything_objects, "PersistentVolumeClaim", "ai-101-datasets")
    assert claim["spec"]["resources"]["requests"]["storage"] == "500Gi"
    assert claim["spec"]["storageClassName"] == "cephfs"


def test_staff_priority_is_above_students_and_neither_is_default(default_objects):
    classes = {c["metadata"]["name"]: c for c in find(default_objects, "PriorityClass")}
    staff, student = classes["coursehub-staff"], classes["coursehub-student"]
    assert staff["value"] > student["value"] > 0
    assert not staff["globalDefault"] and not student["globalDefault"]
    assert student["preemptionPolicy"] == "Never"


@pytest.mark.parametrize("values_name", ["default", "everything"])
def test_hub_gets_both_priority_class_names(chart, values_name):
    """The hub (CourseSpawner) gives staff and admins the staff class and students the
    student one; it learns both names from its environment."""
    values = chart.merge_values({} if values_name == "default" else everything_values())
    env = values["jupyterhub"]["hub"]["extraEnv"]
    classes = values["priorityClasses"]
    assert env["COURSEHUB_STAFF_PRIORITY_CLASS"] == classes["staff"]["name"]
    assert env["COURSEHUB_STUDENT_PRIORITY_CLASS"] == classes["student"]["name"]
    objects = render(chart, {} if values_name == "default" else everything_values())
    assert {c["metadata"]["name"] for c in find(objects, "PriorityClass")} == {
        classes["staff"]["name"],
        classes["student"]["name"],
    }
    # one way to set it: no KubeSpawner.priority_class_name left for every pod
    assert "priority_class_name" not in values["jupyterhub"]["hub"].get("config", {}).get(
        "KubeSpawner", {}
    )


@pytest.mark.parametrize("role", ["staff", "student"])
def test_hub_priority_class_that_differs_from_the_charts_is_refused(chart, role):
    values = {"priorityClasses": {role: {"name": "other-class"}}}
    with pytest.raises(helm.HelmRenderError) as refused:
        render(chart, values)
    assert f"jupyterhub.hub.extraEnv.COURSEHUB_{role.upper()}_PRIORITY_CLASS" in str(refused.value)
    assert f"priorityClasses.{role}.name" in str(refused.value)


# --- grading: network and RBAC -------------------------------------------------------------


def _grading_policy(objects: list[dict]) -> dict:
    (policy,) = [
        o for o in find(objects, "NetworkPolicy") if o["metadata"]["name"].endswith("-grading")
    ]
    return policy


@pytest.mark.parametrize("objects_name", ["default_objects", "everything_objects"])
def test_grading_pods_reach_the_service_port_alone_and_nothing_reaches_them(request, objects_name):
    objects = request.getfixturevalue(objects_name)
    spec = _grading_policy(objects)["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert spec["ingress"] == []
    assert spec["podSelector"]["matchLabels"]["coursehub.io/component"] == "grading"
    # One rule: the service's pods, on the service's port; no DNS, no other peer or port.
    (rule,) = spec["egress"]
    (peer,) = rule["to"]
    template = one(objects, "Deployment")["spec"]["template"]
    container = template["spec"]["containers"][0]
    assert set(peer) == {"podSelector"}
    assert peer["podSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    ports = [p["containerPort"] for p in container.get("ports", [])]
    assert rule["ports"] == [{"protocol": "TCP", "port": ports[0]}]
    # The address the service gives grading pods is that pod's own IP and port.
    env = _service_env(objects)
    assert env["COURSEHUB_POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    url = env["COURSEHUB_GRADING_SERVICE_URL"]["value"]
    assert url.startswith(f"http://$(COURSEHUB_POD_IP):{ports[0]}/services/")


@pytest.mark.parametrize("objects_name", ["default_objects", "everything_objects"])
def test_the_service_lets_grading_pods_in_on_its_port(request, objects_name):
    objects = request.getfixturevalue(objects_name)
    grading_labels = _grading_policy(objects)["spec"]["podSelector"]["matchLabels"]
    service_policy = one(objects, "NetworkPolicy", one(objects, "Deployment")["metadata"]["name"])
    # The first rule is the service's port; the second, the formgraders', admits no grading pod.
    rule, formgraders = service_policy["spec"]["ingress"]
    assert {"podSelector": {"matchLabels": grading_labels}} in rule["from"]
    assert {"podSelector": {"matchLabels": grading_labels}} not in formgraders["from"]
    port = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert rule["ports"] == [{"protocol": "TCP", "port": port["containerPort"]}]


def test_without_the_service_grading_pods_reach_nothing(chart):
    spec = _grading_policy(render(chart, {"service": {"enabled": False}}))["spec"]
    assert spec["egress"] == [] and spec["ingress"] == []


@pytest.mark.parametrize("objects_name", ["default_objects", "everything_objects"])
def test_no_grading_volume_and_the_service_store_is_its_own_readwriteonce(request, objects_name):
    objects = request.getfixturevalue(objects_name)
    (claim,) = [
        o
        for o in find(objects, "PersistentVolumeClaim")
        if o["metadata"]["name"].endswith("-service-store")
    ]
    if objects_name == "default_objects":
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    env = _service_env(objects)
    assert "COURSEHUB_GRADING_DATA_CLAIM" not in env
    # The store is mounted by the service's Deployment alone; nothing names it for pods.
    mentions = [
        o["kind"] + "/" + o["metadata"]["name"]
        for o in objects
        if claim["metadata"]["name"] in json.dumps(o) and o is not claim
    ]
    assert mentions == [f"Deployment/{one(objects, 'Deployment')['metadata']['name']}"]


def test_grading_network_policy_selects_the_labels_the_service_gives_grading_pods(
    everything_objects,
):
    policy = one(everything_objects, "NetworkPolicy", "everything-grading")
    deployment = one(everything_objects, "Deployment", "everything-service")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (
        yaml.safe_load(env["COURSEHUB_GRADING_POD_LABELS"]["value"])
        == policy["spec"]["podSelector"]["matchLabels"]
    )


@pytest.mark.parametrize("objects_name", ["default_objects", "everything_objects"])
def test_grading_rbac_is_namespaced_and_minimal(request, objects_name):
    objects = request.getfixturevalue(objects_name)
    # The only cluster-wide grant is the hub's node reader (below), never the grading one.
    for binding in find(objects, "ClusterRoleBinding"):
        assert [s["name"] for s in binding["subjects"]] == ["hub"]
    role = one(objects, "Role")
    # What coursehub.grading.dispatch calls: create, read (poll) and delete pods; it does
    # not list, watch or read logs.
    # And each batch's token Secret: created and deleted, never read back.
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]},
    ]
    binding = one(objects, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    (subject,) = binding["subjects"]
    assert subject["kind"] == "ServiceAccount" and subject["namespace"] == NAMESPACE


def test_grading_role_is_bound_to_the_service_account_the_service_runs_as(everything_objects):
    (subject,) = one(everything_objects, "RoleBinding")["subjects"]
    deployment = one(everything_objects, "Deployment")
    assert subject["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert one(everything_objects, "ServiceAccount")["metadata"]["name"] == subject["name"]


# --- the hub reads nodes (GPU counts on the spawn page) ------------------------------------


@pytest.mark.parametrize("objects_name", ["default_objects", "everything_objects"])
def test_hub_may_read_nodes_and_nothing_else(request, objects_name):
    objects = request.getfixturevalue(objects_name)
    role = one(objects, "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    # z2jh 4's hub ServiceAccount, in the release namespace
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "hub", "namespace": NAMESPACE}
    ]


def test_hub_node_reader_names_differ_between_namespaces(chart):
    names = set()
    for namespace in ("courses-a", "courses-b"):
        rendered = chart.render(OFFLINE, name="coursehub", namespace=namespace)
        for doc in manifests(rendered):
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                assert namespace in doc["metadata"]["name"]
                names.add(doc["metadata"]["name"])
    assert len(names) == 2


def test_hub_node_reader_follows_its_values(chart):
    assert find(render(chart, {"hubNodeReader": {"create": False}}), "ClusterRole") == []
    objects = render(chart, {"hubNodeReader": {"serviceAccountName": "coursehub-hub"}})
    (subject,) = one(objects, "ClusterRoleBinding")["subjects"]
    assert subject["name"] == "coursehub-hub"


# --- the coursehub service -----------------------------------------------------------------


def _service_env(objects: list[dict]) -> dict[str, dict]:
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_a_default_install_runs_the_service_on_sqlite_in_its_own_store(chart, default_objects):
    """No values: the service runs (exchange, grading, sign-in, GPU admission), with SQLite on
    its ReadWriteOnce store, one replica replaced, never two at once; the hub knows it."""
    deployment = one(default_objects, "Deployment", "coursehub-service")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    env = _service_env(default_objects)
    assert "COURSEHUB_SERVICE_DB_URL" not in env and "PGPASSWORD" not in env
    assert env["COURSEHUB_SERVICE_DATA_DIR"]["value"] == "/srv/coursehub"
    claim = one(default_objects, "PersistentVolumeClaim", "coursehub-service-store")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert one(default_objects, "Service", "coursehub-service")["spec"]["ports"][0]["port"] == 8090
    assert one(default_objects, "ServiceAccount", "coursehub-service")
    # The service's token is z2jh's (`hub` Secret); the chart's one Secret is the formgraders'.
    assert [s["metadata"]["name"] for s in find(default_objects, "Secret")] == [
        "coursehub-formgraders"
    ]
    hub = chart.merge_values({})["jupyterhub"]["hub"]
    assert hub["services"]["coursehub"]["url"] == "http://coursehub-service:8090"
    assert "apiToken" not in hub["services"]["coursehub"]
    assert hub["extraEnv"]["COURSEHUB_SERVICE_URL"] == "http://coursehub-service:8090"


def test_sqlite_with_two_replicas_is_refused(chart):
    with pytest.raises(helm.HelmRenderError) as refused:
        render(chart, {"service": {"replicas": 2}, "formgrader": {"enabled": False}})
    assert "service.replicas is 2 but service.db.url is empty" in str(refused.value)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (
            {"jupyterhub": {"hub": {"services": {"coursehub": None}}}},
            "jupyterhub.hub.services.coursehub is missing",
        ),
        (
            {"jupyterhub": {"hub": {"services": {"coursehub": {"url": "http://coursehub:8090"}}}}},
            (
                'jupyterhub.hub.services.coursehub.url is "http://coursehub:8090" but the '
                "coursehub service's Service is http://coursehub-service:8090"
            ),
        ),
        (
            {"service": {"port": 9000}},
            "set the url to http://coursehub-service:9000",
        ),
        (
            {"jupyterhub": {"hub": {"extraEnv": {"COURSEHUB_SERVICE_URL": "http://x:1"}}}},
            'jupyterhub.hub.extraEnv.COURSEHUB_SERVICE_URL is "http://x:1"',
        ),
        (
            {"jupyterhub": {"hub": {"services": {"coursehub": {"apiToken": "hunter2"}}}}},
            "jupyterhub.hub.services.coursehub.apiToken is set",
        ),
        (
            {"jupyterhub": {"hub": {"db": {"password": "hunter2"}}}},
            "jupyterhub.hub.db.password is set",
        ),
        (
            {"jupyterhub": {"hub": {"db": {"url": "postgresql://hub:hunter2@db/hub"}}}},
            "jupyterhub.hub.db.url contains a password",
        ),
    ],
)
def test_a_hub_that_would_miss_the_service_or_hold_a_password_is_refused(chart, values, named):
    with pytest.raises(helm.HelmRenderError) as refused:
        render(chart, values)
    assert named in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_another_release_name_is_refused_naming_the_url_to_set(chart):
    with pytest.raises(helm.HelmRenderError) as refused:
        chart.render(OFFLINE, name="courses", namespace=NAMESPACE)
    assert "set the url to http://courses-coursehub-service:8090" in str(refused.value)


def test_notes_state_when_course_staff_roles_take_effect(chart):
    notes = chart.render(OFFLINE, name="coursehub", namespace=NAMESPACE)[
        "coursehub/templates/NOTES.txt"
    ]
    assert 'registered with the\nhub as "coursehub"' in notes
    assert "A NEW course's staff role, and its formgrader's hub service, exist only after" in notes
    assert "grader-ai-101: /services/grader-ai-101/formgrader (port 9000)" in notes
    no_graders = chart.render(
        merge(OFFLINE, {"formgrader": {"enabled": False}}), name="coursehub", namespace=NAMESPACE
    )["coursehub/templates/NOTES.txt"]
    assert "Formgraders are off (formgrader.enabled: false)" in no_graders
    assert "grader-ai-101" not in no_graders
    assert "checksum/catalog" in notes
    assert "SQLite" in notes
    assert (
        f"kubectl label namespace {NAMESPACE} pod-security.kubernetes.io/enforce=baseline" in notes
    )
    off = chart.render(
        merge(OFFLINE, {"service": {"enabled": False}}), name="coursehub", namespace=NAMESPACE
    )["coursehub/templates/NOTES.txt"]
    assert "WARNING: service.enabled is false" in off


def test_service_gets_its_db_password_from_the_named_secret(everything_objects):
    # The chart makes no Secret but the formgraders' (tokens it generates, no password).
    assert [s["metadata"]["name"] for s in find(everything_objects, "Secret")] == [
        "everything-formgraders"
    ]
    env = _service_env(everything_objects)
    assert env["COURSEHUB_SERVICE_DB_URL"] == {
        "name": "COURSEHUB_SERVICE_DB_URL",
        "value": "postgresql://coursehub@postgres:5432/coursehub",
    }
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "coursehub-db",
        "key": "password",
        "optional": True,
    }
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "hub",
        "key": "hub.services.coursehub.apiToken",
    }


def test_service_gets_the_lms_tool_key_from_the_named_secret_only(chart, everything_objects):
    env = _service_env(everything_objects)
    assert env["COURSEHUB_LMS_TOOL_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "coursehub-lms",
        "key": "tool-key",
    }
    assert env["COURSEHUB_LMS_TOKEN_URL"]["value"] == (
        "https://sso.canvaslms.com/login/oauth2/token"
    )
    assert env["COURSEHUB_LMS_PUSH_AFTER_FEEDBACK"]["value"] == "1"
    assert "COURSEHUB_LMS_TOOL_KEY" not in _service_env(render(chart, {}))  # off by default
    with pytest.raises(Exception, match=r"service\.lms\.toolKeySecret"):
        render(chart, {"service": {"extraEnv": {"COURSEHUB_LMS_TOOL_KEY": "-----BEGIN"}}})
    with pytest.raises(Exception, match=r"service\.lms\.tokenURL is empty"):
        render(chart, {"service": {"lms": {"toolKeySecret": "coursehub-lms"}}})


def test_service_takes_the_whole_db_url_from_the_secret(chart):
    values = merge(
        everything_values(),
        {
            "service": {
                "db": {"existingSecret": "coursehub-db", "url": ""},
                "storage": {"existingClaim": "store"},
            }
        },
    )
    objects = render(chart, values)
    assert [s["metadata"]["name"] for s in find(objects, "Secret")] == ["everything-formgraders"]
    assert [c["metadata"]["name"] for c in find(objects, "PersistentVolumeClaim")] == [
        "ai-101-datasets"
    ]
    env = _service_env(objects)
    assert env["COURSEHUB_SERVICE_DB_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "coursehub-db",
        "key": "url",
    }
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "coursehub-db"
    volumes = one(objects, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "store", "persistentVolumeClaim": {"claimName": "store"}} in volumes


def test_a_database_without_a_password_needs_no_secret(chart):
    values = {"service": {"enabled": True, "db": {"url": "postgresql://coursehub@db/coursehub"}}}
    env = _service_env(render(chart, values))
    assert env["COURSEHUB_SERVICE_DB_URL"]["value"] == "postgresql://coursehub@db/coursehub"
    assert "PGPASSWORD" not in env


@pytest.mark.parametrize(
    ("db", "named", "instead"),
    [
        (
            {"url": "postgresql://coursehub@db/coursehub", "password": "hunter2"},
            "service.db.password is set",
            "service.db.existingSecret=coursehub-db",
        ),
        (
            {"url": "postgresql://coursehub:hunter2@db/coursehub"},
            "service.db.url contains a password",
            "service.db.existingSecret",
        ),
    ],
)
def test_a_db_password_in_the_values_is_refused_saying_what_to_set(chart, db, named, instead):
    values = {"service": {"enabled": True, "db": db}}
    with pytest.raises(helm.HelmRenderError) as refused:
        render(chart, values)
    assert named in str(refused.value) and instead in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("existing_claim", ["", "store"])
def test_service_keeps_its_store_on_its_claim(chart, existing_claim):
    values = merge(everything_values(), {"service": {"storage": {"existingClaim": existing_claim}}})
    objects = render(chart, values)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (store_mount,) = [
        m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/srv/coursehub"
    ]
    (store,) = [v for v in pod["volumes"] if v["name"] == store_mount["name"]]
    claim = store["persistentVolumeClaim"]["claimName"]
    assert _service_env(objects)["COURSEHUB_SERVICE_DATA_DIR"]["value"] == "/srv/coursehub"
    if existing_claim:
        assert claim == "store"
    else:
        assert claim == "everything-service-store"
        assert one(objects, "PersistentVolumeClaim", claim)


def test_service_pod_runs_unprivileged_with_its_store_and_catalog(everything_objects):
    pod = one(everything_objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1001
    for container in pod["containers"] + pod["initContainers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"/srv/coursehub", "/etc/coursehub/courses"} <= mounts


def test_only_the_services_clients_reach_it_and_only_it_reaches_its_database(
    everything_objects,
):
    policy = one(everything_objects, "NetworkPolicy", "everything-service")
    rule, _formgraders = policy["spec"]["ingress"]  # the formgraders': test_chart_formgrader
    assert rule["ports"] == [{"protocol": "TCP", "port": 9000}]
    clients = [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
    assert {"app": "jupyterhub", "component": "singleuser-server"} in clients
    assert {"coursehub.io/component": "grading"} not in clients

    database = one(everything_objects, "NetworkPolicy", "everything-service-db")
    (db_rule,) = database["spec"]["ingress"]
    assert db_rule["from"] == [
        {"podSelector": {"matchLabels": policy["spec"]["podSelector"]["matchLabels"]}}
    ]
    assert db_rule["ports"] == [{"protocol": "TCP", "port": 5432}]


# --- bad values are refused by the schema, naming the key ----------------------------------

BAD_VALUES = [
    ({"service": {"port": "http"}}, "/service/port"),
    ({"service": {"enabled": "yes"}}, "/service/enabled"),
    ({"sharedData": {"size": "50GB"}}, "/sharedData/size"),
    ({"sharedData": {"accessModes": ["ReadWriteAll"]}}, "/sharedData/accessModes/0"),
    ({"priorityClasses": {"staff": {"name": "Staff_Class"}}}, "/priorityClasses/staff/name"),
    (
        {"grading": {"podLabels": {"coursehub.io/sandbox": True}}},
        "/grading/podLabels/coursehub.io~1sandbox",
    ),
    ({"catalog": {"configMapName": ""}}, "/catalog/configMapName"),
    ({"servce": {"enabled": True}}, "'servce' not allowed"),
    ({"service": {"db": {"urll": "x"}}}, "'urll' not allowed"),
    ({"jupyterhub": {"enabled": "false"}}, "/jupyterhub/enabled"),
    ({"hubNodeReader": {"create": "yes"}}, "/hubNodeReader/create"),
    ({"hubNodeReader": {"serviceAccountName": "Hub"}}, "/hubNodeReader/serviceAccountName"),
    ({"hubNodeReader": {"verbs": ["watch"]}}, "'verbs' not allowed"),
    ({"grading": {"admissionPolicy": {"enabled": "yes"}}}, "/grading/admissionPolicy/enabled"),
    (
        {"grading": {"admissionPolicy": {"imagePrefixes": ["registry.example.edu"]}}},
        "/grading/admissionPolicy/imagePrefixes/0",
    ),
    ({"grading": {"admissionPolicy": {"images": []}}}, "'images' not allowed"),
    ({"service": {"metrics": {"annotate": "yes"}}}, "/service/metrics/annotate"),
    ({"service": {"metrics": {"scrapers": [{}]}}}, "/service/metrics/scrapers/0"),
]


@pytest.mark.parametrize(("values", "named"), BAD_VALUES)
def test_bad_values_are_refused_naming_the_key(chart, values, named):
    with pytest.raises(helm.HelmValuesError) as refused:
        chart.render(merge(OFFLINE, values), name="coursehub", namespace=NAMESPACE)
    assert named in str(refused.value)


def test_staff_priority_not_above_students_is_refused(chart):
    values = {"priorityClasses": {"staff": {"value": 100}}}
    with pytest.raises(helm.HelmRenderError, match=r"priorityClasses\.staff\.value"):
        render(chart, values)


def test_every_schema_key_is_described(chart):
    def walk(node: dict, path: str) -> list[str]:
        missing = []
        for key, child in node.get("properties", {}).items():
            if "description" not in child:
                missing.append(f"{path}.{key}")
            missing += walk(child, f"{path}.{key}")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            missing += walk(extra, f"{path}.*")
        return missing

    assert walk(chart.schema, "") == []


# --- metrics -------------------------------------------------------------------------------


def test_prometheus_finds_the_services_metrics_by_annotation(default_objects):
    expected = {
        "prometheus.io/scrape": "true",
        "prometheus.io/path": "/services/coursehub/api/metrics",
        "prometheus.io/port": "8090",
    }
    service = one(default_objects, "Service", "coursehub-service")
    pod = one(default_objects, "Deployment")["spec"]["template"]
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "service"]
    assert container["ports"][0]["containerPort"] == 8090
    for found in (service["metadata"]["annotations"], pod["metadata"]["annotations"]):
        assert {key: found.get(key) for key in expected} == expected


def test_metrics_annotations_follow_the_port_and_can_be_left_out(chart, everything_objects):
    service = one(everything_objects, "Service", "everything-service")
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "9000"
    objects = render(chart, {"service": {"metrics": {"annotate": False}}})
    assert "annotations" not in one(objects, "Service", "coursehub-service")["metadata"]
    pod = one(objects, "Deployment")["spec"]["template"]
    assert not any(key.startswith("prometheus.io/") for key in pod["metadata"]["annotations"])


def test_only_the_named_scrapers_reach_the_service_besides_its_clients(
    default_objects, everything_objects
):
    # The first rule opens the service's port; the second (the formgraders') never admits
    # scrapers.
    rules = one(default_objects, "NetworkPolicy", "coursehub-service")["spec"]["ingress"]
    assert all(set(peer) == {"podSelector"} for rule in rules for peer in rule["from"])
    rule, formgraders = one(everything_objects, "NetworkPolicy", "everything-service")["spec"][
        "ingress"
    ]
    assert all(set(peer) == {"podSelector"} for peer in formgraders["from"])
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    } in rule["from"]
