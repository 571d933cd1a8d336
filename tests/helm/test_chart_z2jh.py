"""The chart rendered with its real dependency, Zero to JupyterHub 4.4.0.

The offline tests (test_chart.py) render with ``jupyterhub.enabled=false``. Here a copy of
the chart gets the unpacked z2jh chart from the shared vendor folder (``helm dependency
update`` cannot reach the chart repository from these machines) as ``charts/jupyterhub``,
and everything z2jh and coursehub render together is validated against the Kubernetes
schemas. Then the notebook pods: the values z2jh hands the hub (its ``hub`` Secret) make
KubeSpawner build pods with the RuntimeDefault seccomp profile.
"""

from __future__ import annotations

import base64
import importlib.metadata
import os
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from chart_render import (
    CHART_DIR,
    NAMESPACE,
    REPO_ROOT,
    everything_values,
    find,
    manifests,
    merge,
    one,
)
from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User
from jupyterhub_idle_culler import IdleCuller
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from traitlets.config import Config

from coursehub.hub.services import formgrader_serve_command
from coursehub.names import SERVICE_NAME

# Beside the repository (a worktree or CI's clone), as the shared folder is laid out.
Z2JH = REPO_ROOT.parent / "shared" / "vendor" / "z2jh-4.4.0" / "jupyterhub"
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: c, user: {token: unused}}]
contexts: [{name: c, context: {cluster: c, user: c}}]
current-context: c
"""


@pytest.fixture(scope="module")
def chart(tmp_path_factory) -> Iterator[helm.Chart]:
    if not (Z2JH / "Chart.yaml").is_file():
        pytest.fail(f"z2jh 4.4.0 is not unpacked at {Z2JH} (shared/vendor, see its README)")
    copy = tmp_path_factory.mktemp("chart") / "coursehub"
    shutil.copytree(CHART_DIR, copy)
    shutil.copytree(Z2JH, copy / "charts" / "jupyterhub")
    with helm.Chart.load(copy) as loaded:
        yield loaded


def render_with_z2jh(chart: helm.Chart, values: dict) -> list[dict]:
    rendered = chart.render(
        merge(values, {"jupyterhub": {"enabled": True}}),
        name="coursehub",
        namespace=NAMESPACE,
        is_install=True,
    )
    return manifests(rendered)


def values_of_the_hub(objects: list[dict]) -> dict:
    """What the hub's z2jh.get_config reads: values.yaml of the `hub` Secret."""
    secret = one(objects, "Secret", "hub")
    return yaml.safe_load(base64.b64decode(secret["data"]["values.yaml"]))


@pytest.fixture(scope="module", params=["default", "everything"])
def objects(request, chart) -> list[dict]:
    return render_with_z2jh(chart, {} if request.param == "default" else everything_values())


@pytest.mark.parametrize("kube_version", ["1.30.0", kubernetes_validate.latest_version()])
def test_every_object_of_coursehub_and_z2jh_validates(objects, kube_version):
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "ValidatingAdmissionPolicy", "NetworkPolicy"} <= kinds
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"} >= {
        "hub",
        "proxy",
    }
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message}")


def test_the_hub_gets_coursehubs_kubespawner_and_authenticator_settings(objects):
    config = values_of_the_hub(objects)["hub"]["config"]
    assert config["KubeSpawner"]["pod_security_context"] == {
        "seccompProfile": {"type": "RuntimeDefault"}
    }
    # z2jh's `dummy` default (any password signs in) is gone.
    assert "authenticator_class" not in config.get("JupyterHub", {})


def test_the_hub_pod_mounts_the_catalog(objects):
    hub = one(objects, "Deployment", "hub")["spec"]["template"]["spec"]
    assert [c["name"] for c in hub["initContainers"]] == ["unpack-catalog"]
    assert {"catalog", "catalog-flat", "catalog-unpack"} <= {v["name"] for v in hub["volumes"]}


async def test_notebook_pods_run_with_the_runtime_default_seccomp_profile(
    objects, tmp_path, monkeypatch
):
    """KubeSpawner configured as z2jh configures it from these values (hub.config passed
    through; singleuser.uid and fsGid), building a real pod manifest."""
    values = values_of_the_hub(objects)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    config = Config(values["hub"]["config"])
    config.KubeSpawner.uid = values["singleuser"]["uid"]
    config.KubeSpawner.fs_gid = values["singleuser"]["fsGid"]
    db = orm.new_session_factory("sqlite://")()
    try:
        orm_user = orm.User(name="student1")
        db.add(orm_user)
        db.commit()
        spawner = KubeSpawner(
            config=config,
            user=User(orm_user, settings={}),
            hub=Hub(ip="127.0.0.1", port=8081, base_url="/hub/"),
            namespace=NAMESPACE,
            cmd=["jupyterhub-singleuser"],
        )
        spawner.api_token = "token-for-tests"
        async with ApiClient() as api:
            pod = api.sanitize_for_serialization(await spawner.get_pod_manifest())
    finally:
        db.close()
    context = pod["spec"]["securityContext"]
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["fsGroup"] == 100  # merged with, not replacing, z2jh's settings


# --- the hub's configuration as z2jh's own jupyterhub_config.py builds it ------------------

Z2JH_HUB_FILES = Z2JH / "files" / "hub"
Z2JH_ETC = "/usr/local/etc/jupyterhub/"


def secret_data(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def hub_config_from_rendered(objects: list[dict], tmp_path: Path, monkeypatch) -> Config:
    """Run z2jh 4.4.0's real ``jupyterhub_config.py`` as the hub pod runs it, on what the chart
    rendered: the ``hub`` Secret and ConfigMap as the files z2jh mounts (its ``z2jh.py`` reads
    them from /usr/local/etc/jupyterhub/, here pointed at a temporary folder), the hub
    container's environment (values, the ``hub`` Secret's keys, the namespace), Kubernetes'
    ``<SERVICE>_SERVICE_PORT`` variables, and the catalog the init container unpacks. Its last
    step runs hub.extraConfig, the chart's ``configure(c)``."""
    # The configuration writes to the hub's environment (z2jh the database password, the
    # chart's extraConfig COURSEHUB_DB_URL): give it a copy, so no later test's hub inherits
    # this release's database.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    etc = tmp_path / "etc-jupyterhub"
    secret = secret_data(one(objects, "Secret", "hub"))
    for folder, files in (
        ("secret", secret),
        ("config", one(objects, "ConfigMap", "hub")["data"]),
    ):
        (etc / folder).mkdir(parents=True)
        for key, content in files.items():
            (etc / folder / key).write_text(content)
    z2jh = types.ModuleType("z2jh")
    source = (Z2JH_HUB_FILES / "z2jh.py").read_text().replace(Z2JH_ETC, f"{etc}/")
    exec(compile(source, str(Z2JH_HUB_FILES / "z2jh.py"), "exec"), z2jh.__dict__)
    monkeypatch.setitem(sys.modules, "z2jh", z2jh)
    monkeypatch.setattr(sys, "path", list(sys.path))  # it prepends its own folder

    pod = one(objects, "Deployment", "hub")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounted = mounted_chart_secrets(objects, pod, container, tmp_path / "mounts")
    for variable in container["env"]:
        source = variable.get("valueFrom", {})
        if "value" in variable:
            value = mounted.get(variable["value"], variable["value"])
        elif "fieldRef" in source:
            value = NAMESPACE
        elif source.get("secretKeyRef", {}).get("name") == "hub":
            value = secret[source["secretKeyRef"]["key"]]
        else:
            pytest.fail(f"hub env {variable['name']}: no source the test knows ({source})")
        monkeypatch.setenv(variable["name"], str(value))
    for service in (o for o in objects if o["kind"] == "Service"):
        variable = service["metadata"]["name"].upper().replace("-", "_") + "_SERVICE_PORT"
        monkeypatch.setenv(variable, str(service["spec"]["ports"][0]["port"]))
    # What the unpack-catalog init container puts at COURSEHUB_COURSES_DIR (test_chart
    # runs the script itself), and a writable state folder.
    monkeypatch.setenv("COURSEHUB_COURSES_DIR", str(CHART_DIR / "files" / "courses"))
    monkeypatch.setenv("COURSEHUB_STATE_DIR", str(tmp_path / "state"))

    c = Config()
    path = Z2JH_HUB_FILES / "jupyterhub_config.py"
    exec(
        compile(path.read_text(), str(path), "exec"),
        {"get_config": lambda: c, "__file__": str(path)},
    )
    return c


def mounted_chart_secrets(objects, pod: dict, container: dict, root: Path) -> dict[str, str]:
    """The hub's mounts of Secrets this release renders (the formgraders'), written as the
    kubelet would into ``root``: mount path -> local folder. An optional Secret that was not
    rendered is an empty folder, as Kubernetes mounts it."""
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounted = {}
    for mount in container.get("volumeMounts", []):
        source = volumes[mount["name"]].get("secret")
        if source is None or source["secretName"] == "hub":
            continue
        folder = root / mount["name"]
        folder.mkdir(parents=True)
        rendered = secrets.get(source["secretName"])
        if rendered is None:
            assert source.get("optional"), f"hub mounts Secret {source['secretName']}: not rendered"
        else:
            for key, content in secret_data(rendered).items():
                (folder / key).write_text(content)
        mounted[mount["mountPath"]] = str(folder)
    return mounted


@pytest.fixture(scope="module")
def default_objects(chart) -> list[dict]:
    return render_with_z2jh(chart, {})


@pytest.fixture
def hub_config(default_objects, tmp_path, monkeypatch) -> Config:
    return hub_config_from_rendered(default_objects, tmp_path, monkeypatch)


def test_a_default_install_registers_the_service_with_its_token_and_the_course_roles(
    default_objects, hub_config
):
    """helm install with default values: the hub knows the coursehub service (its URL, the
    token z2jh generated into the `hub` Secret, which the service's Deployment reads) and
    loads the course staff roles and the service's roles."""
    services = {entry["name"]: entry for entry in hub_config.JupyterHub.services}
    coursehub = services[SERVICE_NAME]
    assert coursehub["url"] == "http://coursehub-service:8090"
    token = secret_data(one(default_objects, "Secret", "hub"))["hub.services.coursehub.apiToken"]
    assert len(token) >= 32 and coursehub["api_token"] == token
    assert coursehub["display"] and coursehub["oauth_no_confirm"]
    assert "custom:coursehub:staff" in coursehub["oauth_client_allowed_scopes"]

    deployment = one(default_objects, "Deployment", "coursehub-service")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "hub",
        "key": "hub.services.coursehub.apiToken",
    }
    service = one(default_objects, "Service", "coursehub-service")
    assert service["spec"]["ports"][0]["port"] == 8090

    roles = {role["name"]: role for role in hub_config.JupyterHub.load_roles}
    assert roles["course-ai-101-staff"]["groups"] == ["course-ai-101-staff"]
    assert "custom:coursehub:staff" in roles["course-ml-201-staff"]["scopes"]
    assert {"coursehub-service", "coursehub-hub", "coursehub-service-users"} <= set(roles)
    assert roles["coursehub-service"]["services"] == [SERVICE_NAME]
    # notebook pods and the hub's own client call the service at its Service
    assert hub_config.KubeSpawner.environment["COURSEHUB_SERVICE_URL"] == (
        "http://coursehub-service:8090/services/coursehub"
    )
    assert "coursehub-hub" in services


def test_the_idle_culler_command_z2jh_builds_is_one_the_pinned_culler_parses(
    default_objects, hub_config
):
    """z2jh 4.4.0 passes the culler's options as flags; jupyterhub-idle-culler 2 reads them
    as IdleCuller traits (its aliases). The version tested is the hub image's pin."""
    pins = (REPO_ROOT / "images" / "hub" / "requirements.txt").read_text().splitlines()
    assert f"jupyterhub-idle-culler=={importlib.metadata.version('jupyterhub-idle-culler')}" in pins
    assert "jupyterhub-idle-culler==2.0.0" in (
        (REPO_ROOT / "images" / "hub" / "requirements.in").read_text().splitlines()
    )
    (culler,) = [s for s in hub_config.JupyterHub.services if s["name"] == "jupyterhub-idle-culler"]
    assert culler["command"][:3] == ["python3", "-m", "jupyterhub_idle_culler"]
    app = IdleCuller()
    app.parse_command_line(culler["command"][3:])
    cull = values_of_the_hub(default_objects)["cull"]
    assert app.timeout == cull["timeout"] == 3600
    assert app.cull_every == cull["every"] == 300
    assert app.concurrency == cull["concurrency"]
    assert app.url == "http://localhost:8081/hub/api"
    assert app.cull_users is False and app.cull_admin_users is True
    (role,) = [r for r in hub_config.JupyterHub.load_roles if r["name"] == "jupyterhub-idle-culler"]
    assert "admin:users" not in role["scopes"]


@pytest.mark.parametrize(
    ("key", "flag"), [("users", "--cull-users"), ("removeNamedServers", "--remove-named-servers")]
)
def test_culler_values_whose_bare_flag_culler_2_refuses_are_refused(chart, key, flag):
    """z2jh 4.4.0 passes these two flags without a value; the pinned culler stops on them."""
    with pytest.raises(SystemExit):
        IdleCuller().parse_command_line([flag])
    assert IdleCuller().parse_command_line([f"{flag}=true"]) is None  # with a value it would
    with pytest.raises(helm.HelmRenderError) as refused:
        render_with_z2jh(chart, {"jupyterhub": {"cull": {key: True}}})
    assert f"jupyterhub.cull.{key} is true" in str(refused.value)
    assert flag in str(refused.value)


def test_the_documented_prometheus_token_is_generated_and_may_read_metrics(
    chart, tmp_path, monkeypatch
):
    """docs/deploy.md, Metrics: a `prometheus` service with a read:metrics role gets a token
    z2jh generates into the `hub` Secret (no token in the values), and the hub loads both."""
    values = {
        "jupyterhub": {
            "hub": {
                "services": {"prometheus": {}},
                "loadRoles": {
                    "prometheus": {"services": ["prometheus"], "scopes": ["read:metrics"]}
                },
            }
        }
    }
    objects = render_with_z2jh(chart, values)
    token = secret_data(one(objects, "Secret", "hub"))["hub.services.prometheus.apiToken"]
    assert len(token) >= 32
    config = hub_config_from_rendered(objects, tmp_path, monkeypatch)
    services = {entry["name"]: entry for entry in config.JupyterHub.services}
    assert services["prometheus"]["api_token"] == token
    roles = {role["name"]: role for role in config.JupyterHub.load_roles}
    assert roles["prometheus"]["scopes"] == ["read:metrics"]
    assert roles["prometheus"]["services"] == ["prometheus"]
    pod = one(objects, "Deployment", "coursehub-service")["spec"]["template"]["metadata"]
    assert pod["annotations"]["prometheus.io/path"] == "/services/coursehub/api/metrics"


# --- the courses' formgraders ---------------------------------------------------------------

GRADERS = {"ai-101": 9000, "ml-201": 9001}


def containers_of(objects: list[dict], deployment: str) -> dict[str, dict]:
    pod = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod["containers"]}


def test_each_course_gets_a_formgrader_container_and_port_beside_the_service(default_objects):
    pod = one(default_objects, "Deployment", "coursehub-service")["spec"]["template"]["spec"]
    containers = containers_of(default_objects, "coursehub-service")
    assert list(containers) == ["service", "grader-ai-101", "grader-ml-201"]
    service_ports = {
        p["name"]: p for p in one(default_objects, "Service", "coursehub-service")["spec"]["ports"]
    }
    for course, port in GRADERS.items():
        grader = containers[f"grader-{course}"]
        # The command `coursehub dev` runs (coursehub.hub.services.formgrader_serve_command).
        assert grader["command"] == formgrader_serve_command(
            course, Path(f"/srv/coursehub/workspaces/{course}"), Path("/tmp/formgrader")
        )
        (container_port,) = grader["ports"]
        assert container_port["containerPort"] == port
        assert service_ports[container_port["name"]]["port"] == port
        assert service_ports[container_port["name"]]["targetPort"] == container_port["name"]
        env = {e["name"]: e for e in grader["env"]}
        assert env["JUPYTERHUB_SERVICE_NAME"]["value"] == f"grader-{course}"
        assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == f"/services/grader-{course}/"
        assert env["JUPYTERHUB_SERVICE_URL"]["value"] == f"http://0.0.0.0:{port}"
        assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "coursehub-formgraders",
            "key": f"{course}.token",
        }
        # Its own course's folder of the store, and nothing else of it.
        (store,) = [m for m in grader["volumeMounts"] if m["name"] == "store"]
        assert store == {
            "name": "store",
            "mountPath": f"/srv/coursehub/workspaces/{course}",
            "subPath": f"workspaces/{course}",
        }
        assert grader["securityContext"]["readOnlyRootFilesystem"] is True
    # The courses' folders are laid out before the formgraders start, as dev does.
    init = {c["name"]: c for c in pod["initContainers"]}
    assert init["prepare-workspaces"]["command"] == ["coursehub", "formgrader", "prepare"]


def test_the_hub_registers_each_formgrader_with_its_token_and_only_staff_reach_it(
    default_objects, hub_config
):
    """z2jh's real hub configuration on the rendered objects, with the formgraders' Secret
    mounted where the hub reads it."""
    tokens = secret_data(one(default_objects, "Secret", "coursehub-formgraders"))
    services = {entry["name"]: entry for entry in hub_config.JupyterHub.services}
    roles = {role["name"]: role for role in hub_config.JupyterHub.load_roles}
    for course, port in GRADERS.items():
        entry = services[f"grader-{course}"]
        assert entry["url"] == f"http://coursehub-service:{port}"
        assert len(entry["api_token"]) >= 32 and entry["api_token"] == tokens[f"{course}.token"]
        assert entry["oauth_no_confirm"] is True and entry["display"] is True
        assert "command" not in entry  # external: the service's pod runs it
        access = f"access:services!service=grader-{course}"
        holders = [name for name, role in roles.items() if access in role.get("scopes", [])]
        assert holders == [f"course-{course}-staff"]
        assert roles[f"course-{course}-staff"]["groups"] == [f"course-{course}-staff"]
    assert services["grader-ai-101"]["api_token"] != services["grader-ml-201"]["api_token"]
    assert roles["coursehub-graders"]["services"] == ["grader-ai-101", "grader-ml-201"]


def test_z2jh_lets_the_service_pod_call_the_hubs_api(default_objects):
    """The formgraders check tokens with the hub (and the service keeps its groups there):
    z2jh's hub NetworkPolicy must admit the service's pod."""
    policy = one(default_objects, "NetworkPolicy", "hub")
    labels = one(default_objects, "Deployment", "coursehub-service")["spec"]["template"][
        "metadata"
    ]["labels"]
    admitted = [
        peer["podSelector"]["matchLabels"]
        for rule in policy["spec"]["ingress"]
        for peer in rule.get("from", [])
        if "podSelector" in peer and "namespaceSelector" not in peer
    ]
    assert any(selector.items() <= labels.items() for selector in admitted), admitted


def test_only_the_hub_and_the_proxy_reach_the_formgraders_ports(default_objects):
    policy = one(default_objects, "NetworkPolicy", "coursehub-service")
    service_rule, grader_rule = policy["spec"]["ingress"]
    assert grader_rule["ports"] == [{"protocol": "TCP", "port": p} for p in GRADERS.values()]
    assert [peer["podSelector"]["matchLabels"] for peer in grader_rule["from"]] == [
        {"app": "jupyterhub", "component": "hub"},
        {"app": "jupyterhub", "component": "proxy"},
    ]
    assert not {p["port"] for p in service_rule["ports"]} & set(GRADERS.values())


@pytest.fixture(scope="module")
def objects_without_formgraders(chart) -> list[dict]:
    return render_with_z2jh(chart, {"formgrader": {"enabled": False}})


def test_the_switch_off_leaves_no_formgrader_anywhere(
    objects_without_formgraders, tmp_path, monkeypatch
):
    objects = objects_without_formgraders
    pod = one(objects, "Deployment", "coursehub-service")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["service"]
    assert [c["name"] for c in pod["initContainers"]] == ["unpack-catalog"]
    assert [p["name"] for p in one(objects, "Service", "coursehub-service")["spec"]["ports"]] == [
        "http"
    ]
    assert find(objects, "Secret", "coursehub-formgraders") == []
    assert len(one(objects, "NetworkPolicy", "coursehub-service")["spec"]["ingress"]) == 1
    config = hub_config_from_rendered(objects, tmp_path, monkeypatch)
    assert not [s for s in config.JupyterHub.services if s["name"].startswith("grader-")]
    assert "coursehub-graders" not in {role["name"] for role in config.JupyterHub.load_roles}


@pytest.mark.parametrize("kube_version", ["1.30.0", kubernetes_validate.latest_version()])
def test_with_and_without_formgraders_every_object_validates(
    default_objects, objects_without_formgraders, kube_version
):
    for obj in [*default_objects, *objects_without_formgraders]:
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message}")


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"formgrader": {"enabled": "yes"}}, "/formgrader/enabled"),
        ({"formgrader": {"basePort": "9000"}}, "/formgrader/basePort"),
        ({"formgrader": {"basePort": 80}}, "/formgrader/basePort"),
        ({"formgrader": {"ports": [1]}}, "ports"),
        ({"formgrader": {"basePort": 8089}}, "formgrader.basePort is 8089"),
        (
            {"service": {"replicas": 2, "db": {"url": "postgresql://c@db/c"}}},
            "service.replicas is 2",
        ),
        (
            {"jupyterhub": {"hub": {"services": {"grader-ai-101": {"url": "http://x"}}}}},
            "jupyterhub.hub.services.grader-ai-101 is set",
        ),
        (
            {"jupyterhub": {"hub": {"extraEnv": {"COURSEHUB_FORMGRADERS_DIR": "/elsewhere"}}}},
            'COURSEHUB_FORMGRADERS_DIR is "/elsewhere"',
        ),
    ],
)
def test_bad_formgrader_values_are_refused_naming_the_key(chart, values, named):
    # The schema refuses a value of the wrong kind; the checks' template what does not fit.
    with pytest.raises((helm.HelmValuesError, helm.HelmRenderError)) as refused:
        render_with_z2jh(chart, values)
    assert named in str(refused.value)
