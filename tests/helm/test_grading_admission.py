"""The grading pods' ValidatingAdmissionPolicy, evaluated for real (security review §10).

The chart renders the policy; cel-python evaluates its matchConditions, variables and
validations as the API server does (in order, variables visible to validations, an
evaluation error denies because failurePolicy is Fail) against:

- the pod ``coursehub.grading.pods.grading_pod`` builds for the sample course's assignment,
  through the service's own planning code (``GradingRun``) and with the settings the
  chart's Deployment gives the service: it must be admitted;
- hostile variants a compromised service could create: each must be denied with the
  policy's message for that rule.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import celpy
import helm_python as helm
import pytest
from celpy import celtypes
from chart_render import (
    CHART_DIR,
    NAMESPACE,
    everything_values,
    find,
    merge,
    one,
    render,
    render_for_kubernetes,
)

from coursehub.catalog.loader import load_catalog
from coursehub.grading.dispatch import GradingRun
from coursehub.grading.pods import grading_pod
from coursehub.grading.settings import GradingSettings
from coursehub.grading.transport import BatchTickets

CHART_CATALOG = CHART_DIR / "files" / "courses"
JOB_ID = "0123456789abcdef0123456789abcdef"
SERVICE_POD_IP = "10.42.0.17"


class Policy:
    """A rendered ValidatingAdmissionPolicy, evaluated with cel-python."""

    def __init__(self, manifest: dict):
        self.spec = manifest["spec"]
        self.environment = celpy.Environment()
        self._programs: dict[str, celpy.Runner] = {}

    def _run(self, expression: str, activation: dict):
        program = self._programs.get(expression)
        if program is None:
            program = self.environment.program(self.environment.compile(expression))
            self._programs[expression] = program
        return program.evaluate(activation)

    def admit(self, pod: dict, username: str) -> str | None:
        """None when the pod may be created; else the message it is denied with."""
        pod = copy.deepcopy(pod)
        # The ServiceAccount admission plugin fills this in before validating admission.
        pod["spec"].setdefault("serviceAccountName", "default")
        request = {
            "operation": "CREATE",
            "namespace": pod["metadata"]["namespace"],
            "userInfo": {"username": username},
        }
        activation = {"object": celpy.json_to_cel(pod), "request": celpy.json_to_cel(request)}
        for condition in self.spec["matchConditions"]:
            if not self._run(condition["expression"], activation):
                return None  # the policy does not apply to this request
        # Each variable sees the ones before it, as in the API server.
        variables: dict = {}
        for variable in self.spec["variables"]:
            value = self._run(
                variable["expression"], {**activation, "variables": _cel_map(variables)}
            )
            assert not isinstance(value, celpy.CELEvalError), (variable["name"], value)
            variables[variable["name"]] = value
        activation["variables"] = _cel_map(variables)
        for validation in self.spec["validations"]:
            try:
                verdict = self._run(validation["expression"], activation)
            except celpy.CELEvalError as error:
                verdict = error
            if isinstance(verdict, celpy.CELEvalError):
                assert self.spec["failurePolicy"] == "Fail"
                return f"{validation['message']} (evaluation error: {verdict})"
            if not verdict:
                return validation["message"]
        return None


def _cel_map(values: dict) -> celtypes.MapType:
    return celtypes.MapType({celtypes.StringType(k): v for k, v in values.items()})


def cel_literal(expression: str):
    environment = celpy.Environment()
    return environment.program(environment.compile(expression)).evaluate({})


def service_account(objects: list[dict]) -> str:
    (subject,) = one(objects, "RoleBinding")["subjects"]
    return f"system:serviceaccount:{subject['namespace']}:{subject['name']}"


def production_grading_pod(objects: list[dict], environment: str | None = None) -> dict:
    """The pod the service would create for ai-101's ps1, planned by the service's own code
    with the environment the chart's Deployment gives it."""
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    environ = {}
    fields = {"metadata.namespace": NAMESPACE, "status.podIP": SERVICE_POD_IP}
    for variable in container["env"]:
        if "value" in variable:
            # Kubernetes expands $(NAME) of variables defined before this one.
            environ[variable["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: environ.get(m[1], m[0]), variable["value"]
            )
        else:
            path = variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if path in fields:
                environ[variable["name"]] = fields[path]
    settings = GradingSettings.from_environ(environ)
    assert settings.namespace == NAMESPACE
    # The service pod's own address: grading pods get no DNS.
    assert re.fullmatch(rf"http://{SERVICE_POD_IP}:\d+/services/\w+/", settings.service_url)
    course = load_catalog(CHART_CATALOG).courses["ai-101"]
    assignment = course.assignment("ps1")
    # The service grades in <data dir>/grading (coursehub.service.workflow).
    run = GradingRun(
        None,
        settings,
        course,
        assignment,
        None,
        Path(environ["COURSEHUB_SERVICE_DATA_DIR"]) / "grading",
        JOB_ID,
        None,
        BatchTickets(),
    )
    try:
        plan = run._plan(0, 3, 1)
    finally:
        run.gradebook_thread.shutdown()
    if environment is not None:
        plan = dataclasses.replace(plan, environment=course.environment(environment))
    # A copy: the manifest shares module-level lists (the capabilities) the attacks change.
    return copy.deepcopy(grading_pod(plan))


@pytest.fixture(scope="module")
def chart():
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def service_values(extra: dict | None = None) -> dict:
    return merge(everything_values(), extra or {})


@pytest.fixture(scope="module")
def objects(chart) -> list[dict]:
    return render(chart, service_values())


@pytest.fixture(scope="module")
def policy(objects) -> Policy:
    return Policy(one(objects, "ValidatingAdmissionPolicy"))


# --- what is rendered ----------------------------------------------------------------------


def test_policy_is_on_by_default_and_bound_to_the_release_namespace(chart):
    objects = render(chart, {})
    policy = one(objects, "ValidatingAdmissionPolicy")
    binding = one(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}
    }
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
    ]
    # Without the service, the grading Role's default subject is the service's account.
    (condition,) = policy["spec"]["matchConditions"]
    assert service_account(objects) in condition["expression"]


def test_policy_can_be_switched_off(chart):
    objects = render(chart, {"grading": {"admissionPolicy": {"enabled": False}}})
    assert find(objects, "ValidatingAdmissionPolicy") == []
    assert find(objects, "ValidatingAdmissionPolicyBinding") == []


def test_policy_names_differ_between_namespaces(chart):
    names = set()
    for namespace in ("courses-a", "courses-b"):
        rendered = chart.render(
            {"jupyterhub": {"enabled": False}}, name="coursehub", namespace=namespace
        )
        for text in rendered.values():
            if "kind: ValidatingAdmissionPolicy\n" in text:
                names.add(next(line for line in text.splitlines() if "name:" in line))
    assert len(names) == 2


def test_an_older_kubernetes_is_refused_naming_the_switch(chart):
    with pytest.raises(helm.HelmRenderError) as refused:
        render_for_kubernetes(chart, {}, "v1.29.8")
    assert "needs Kubernetes 1.30 or newer" in str(refused.value)
    assert "grading.admissionPolicy.enabled=false" in str(refused.value)
    objects = render_for_kubernetes(
        chart, {"grading": {"admissionPolicy": {"enabled": False}}}, "v1.29.8"
    )
    assert find(objects, "ValidatingAdmissionPolicy") == []
    assert find(render_for_kubernetes(chart, {}, "v1.30.0"), "ValidatingAdmissionPolicy")


def test_allowed_images_are_the_catalogs_and_the_extra_ones(objects):
    variables = {
        v["name"]: v["expression"]
        for v in one(objects, "ValidatingAdmissionPolicy")["spec"]["variables"]
    }
    catalog = load_catalog(CHART_CATALOG)
    images = {env.image for course in catalog.courses.values() for env in course.environments}
    images.add("registry.example.edu/coursehub/notebook-cpu:2026.11")
    assert cel_literal(variables["allowedImages"]) == celpy.json_to_cel(sorted(images))


# --- the service's own grading pods are admitted --------------------------------------------


@pytest.mark.parametrize("environment", [None, "gpu"])
def test_the_grading_pod_the_service_builds_is_admitted(objects, policy, environment):
    pod = production_grading_pod(objects, environment)
    assert policy.admit(pod, service_account(objects)) is None
    # It is the shape the policy is about (not a pod it would ignore): no volume of the
    # service's, and its token from its own batch's Secret.
    assert all(set(volume) == {"name", "emptyDir"} for volume in pod["spec"]["volumes"])
    (token,) = [e for e in _container(pod)["env"] if "valueFrom" in e]
    assert token["valueFrom"]["secretKeyRef"]["name"] == pod["metadata"]["name"] + "-token"


def test_user_namespaces_are_allowed_but_not_required(objects, policy):
    pod = production_grading_pod(objects)
    pod["spec"]["hostUsers"] = False
    assert policy.admit(pod, service_account(objects)) is None


def test_an_image_under_an_allowed_prefix_is_admitted(objects, policy):
    pod = production_grading_pod(objects)
    pod["spec"]["containers"][0]["image"] = "registry.example.edu/courses/nlp:2027.1"
    assert policy.admit(pod, service_account(objects)) is None


def test_pods_of_other_accounts_are_not_this_policys_business(objects, policy):
    """The hub's notebook pods mount homes and Secrets of their own; the policy leaves them
    (and everyone but the service) alone."""
    pod = production_grading_pod(objects)
    pod["spec"]["volumes"].append({"name": "hub", "secret": {"secretName": "hub"}})
    assert policy.admit(pod, f"system:serviceaccount:{NAMESPACE}:hub") is None
    assert policy.admit(pod, service_account(objects)) is not None


# --- hostile pods the service's account might be made to create ----------------------------


def _spec(pod: dict) -> dict:
    return pod["spec"]


def _container(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


def _token(pod: dict) -> dict:
    (token,) = [e for e in _container(pod)["env"] if "valueFrom" in e]
    return token


def _mount(pod: dict, name: str, volume: dict, **mount) -> None:
    pod["spec"]["volumes"].append({"name": name, **volume})
    _container(pod)["volumeMounts"].append({"name": name, "mountPath": f"/x/{name}", **mount})


HOSTILE: dict[str, tuple[Callable[[dict], None], str]] = {
    "hostPath volume": (
        lambda p: _mount(p, "root", {"hostPath": {"path": "/"}}),
        "no claim, hostPath, secret",
    ),
    "the hub Secret as a volume": (
        lambda p: _mount(p, "hub", {"secret": {"secretName": "hub"}}),
        "no claim, hostPath, secret",
    ),
    "a projected service account token": (
        lambda p: _mount(
            p, "token", {"projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
        ),
        "no claim, hostPath, secret",
    ),
    "the catalog ConfigMap (it holds solutions)": (
        lambda p: _mount(p, "catalog", {"configMap": {"name": "everything-catalog"}}),
        "no claim, hostPath, secret",
    ),
    "a student's home claim": (
        lambda p: _mount(
            p,
            "home",
            {"persistentVolumeClaim": {"claimName": "claim-student1"}},
            subPath="grading/x",
        ),
        "no claim, hostPath, secret",
    ),
    "the service's store (gradebooks, every submission)": (
        lambda p: _mount(
            p, "store", {"persistentVolumeClaim": {"claimName": "everything-service-store"}}
        ),
        "no claim, hostPath, secret",
    ),
    "a subPathExpr": (
        lambda p: _container(p)["volumeMounts"][0].update(subPathExpr="$(POD)"),
        "no subPathExpr",
    ),
    "another batch's token Secret": (
        lambda p: _token(p).update(
            valueFrom={"secretKeyRef": {"name": "grading-0123456789ab-7-token", "key": "token"}}
        ),
        "no environment from Secrets or ConfigMaps but COURSEHUB_GRADING_TOKEN",
    ),
    "the hub Secret under the token's name": (
        lambda p: _token(p).update(valueFrom={"secretKeyRef": {"name": "hub", "key": "token"}}),
        "no environment from Secrets or ConfigMaps but COURSEHUB_GRADING_TOKEN",
    ),
    "its own Secret under another name": (
        lambda p: _token(p).update(name="JUPYTERHUB_API_TOKEN"),
        "no environment from Secrets or ConfigMaps but COURSEHUB_GRADING_TOKEN",
    ),
    "the token from a ConfigMap": (
        lambda p: _token(p).update(
            valueFrom={"configMapKeyRef": {"name": p["metadata"]["name"] + "-token", "key": "t"}}
        ),
        "no environment from Secrets or ConfigMaps but COURSEHUB_GRADING_TOKEN",
    ),
    "an emptyDir without a size limit": (
        lambda p: _mount(p, "big", {"emptyDir": {}}),
        "emptyDir volumes with a sizeLimit",
    ),
    "privileged": (
        lambda p: _container(p)["securityContext"].update(privileged=True),
        "not privileged",
    ),
    "privilege escalation": (
        lambda p: _container(p)["securityContext"].update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation: false",
    ),
    "a writable root filesystem": (
        lambda p: _container(p)["securityContext"].pop("readOnlyRootFilesystem"),
        "readOnlyRootFilesystem: true",
    ),
    "SYS_ADMIN (the dev cluster's sandbox capability)": (
        lambda p: _container(p)["securityContext"]["capabilities"]["add"].append("SYS_ADMIN"),
        "adds only CHOWN",
    ),
    "capabilities not dropped": (
        lambda p: _container(p)["securityContext"]["capabilities"].pop("drop"),
        "drops ALL capabilities",
    ),
    "the service account token mounted": (
        lambda p: _spec(p).update(automountServiceAccountToken=True),
        "no ServiceAccount token",
    ),
    "another service account": (
        lambda p: _spec(p).update(serviceAccountName="hub"),
        "no ServiceAccount token",
    ),
    "service links": (
        lambda p: _spec(p).pop("enableServiceLinks"),
        "enableServiceLinks: false",
    ),
    "missing grading labels (the NetworkPolicy would not select it)": (
        lambda p: p["metadata"]["labels"].pop("coursehub.io/component"),
        "carry the grading labels",
    ),
    "a missing job label": (
        lambda p: p["metadata"]["labels"].pop("coursehub.io/job"),
        "carry the grading labels",
    ),
    "a second container": (
        lambda p: _spec(p)["containers"].append({**copy.deepcopy(_container(p)), "name": "two"}),
        "exactly one container",
    ),
    "an init container": (
        lambda p: _spec(p).update(initContainers=[copy.deepcopy(_container(p))]),
        "exactly one container",
    ),
    "an image not in the catalog": (
        lambda p: _container(p).update(image="docker.io/attacker/tools:latest"),
        "a course image of the catalog",
    ),
    "env from the hub Secret": (
        lambda p: _container(p).update(
            env=[{"name": "T", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "x"}}}]
        ),
        "no environment from Secrets",
    ),
    "envFrom a Secret": (
        lambda p: _container(p).update(envFrom=[{"secretRef": {"name": "hub"}}]),
        "no environment from Secrets",
    ),
    "the host network": (
        lambda p: _spec(p).update(hostNetwork=True),
        "network, PID or IPC",
    ),
    "the host PID namespace": (
        lambda p: _spec(p).update(hostPID=True),
        "network, PID or IPC",
    ),
    "a preset node": (
        lambda p: _spec(p).update(nodeName="gpu-a100-1"),
        "no nodeName",
    ),
    "restarts": (
        lambda p: _spec(p).update(restartPolicy="Always"),
        "restartPolicy: Never",
    ),
    "no deadline": (
        lambda p: _spec(p).pop("activeDeadlineSeconds"),
        "activeDeadlineSeconds",
    ),
    "no seccomp profile": (
        lambda p: _spec(p).pop("securityContext"),
        "RuntimeDefault seccomp",
    ),
    "a container that turns seccomp off": (
        lambda p: _container(p)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "RuntimeDefault seccomp",
    ),
    "a host port": (
        lambda p: _container(p).update(ports=[{"containerPort": 22, "hostPort": 22}]),
        "no hostPort",
    ),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_a_hostile_pod_from_the_services_account_is_denied(objects, policy, attack):
    change, message = HOSTILE[attack]
    pod = production_grading_pod(objects)
    change(pod)
    denied = policy.admit(pod, service_account(objects))
    assert denied is not None, f"{attack}: admitted"
    assert message in denied, denied
    assert "evaluation error" not in denied


def test_default_values_deny_the_hostile_pods_too(chart):
    """The default values (no service settings) pin the same shape for the service's
    account, with the chart's own store claim."""
    values = {"service": {"enabled": True, "db": {"url": "postgresql://c@db/c"}}}
    objects = render(chart, values)
    policy = Policy(one(objects, "ValidatingAdmissionPolicy"))
    pod = production_grading_pod(objects)
    assert policy.admit(pod, service_account(objects)) is None
    for attack in ("hostPath volume", "privileged", "an image not in the catalog"):
        hostile = copy.deepcopy(pod)
        HOSTILE[attack][0](hostile)
        assert policy.admit(hostile, service_account(objects)) is not None, attack
