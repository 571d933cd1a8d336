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
import shutil
from collections.abc import Iterator

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from test_chart import CHART_DIR, NAMESPACE, REPO_ROOT, everything_values, merge, one
from traitlets.config import Config

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
    objects = []
    for path, text in rendered.items():
        if path.endswith(".yaml"):  # not z2jh's NOTES.txt
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


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
