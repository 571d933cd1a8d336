"""The pod KubeSpawner makes from a course profile, through ``CourseSpawner`` itself.

A real JupyterHub ``User`` (in-memory database) and ``Hub``; the kubeconfig points at a
closed port because building a manifest makes no API call.
"""

from __future__ import annotations

import json

import pytest
from jupyterhub import orm
from kubernetes_asyncio.client import ApiClient
from tornado import web

from coursehub.hub.spawner import CourseSpawner


async def pod_for(spawner: CourseSpawner, profile: str | None) -> dict:
    spawner.user_options = {"profile": profile} if profile else {}
    await spawner.load_user_options()
    async with ApiClient() as api:
        return api.sanitize_for_serialization(await spawner.get_pod_manifest())


def notebook(pod: dict) -> dict:
    (container,) = pod["spec"]["containers"]
    return container


async def test_gpu_pod(make_spawner):
    pod = await pod_for(make_spawner("student1"), "ai-101-gpu")
    assert notebook(pod)["image"] == "coursehub/notebook-gpu:2025.1"
    assert notebook(pod)["resources"] == {
        "limits": {"cpu": 4.0, "memory": 16 * 2**30, "nvidia.com/gpu": "1"},
        "requests": {"cpu": 0.5, "memory": 2 * 2**30},
    }
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert pod["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    labels = pod["metadata"]["labels"]
    assert labels["coursehub.io/course"] == "ai-101"
    assert labels["coursehub.io/environment"] == "gpu"
    assert labels["coursehub.io/role"] == "student"
    assert labels["component"] == "singleuser-server"  # what KubeSpawner's reflector watches
    assert pod["spec"]["volumes"] == [
        {
            "name": "shared-datasets",
            "persistentVolumeClaim": {"claimName": "ai-101-datasets", "readOnly": True},
        }
    ]
    assert notebook(pod)["volumeMounts"] == [
        {"name": "shared-datasets", "mountPath": "/data", "readOnly": True}
    ]
    env = {item["name"]: item["value"] for item in notebook(pod)["env"]}
    assert env["COURSEHUB_COURSE"] == "ai-101"
    assert env["JUPYTERHUB_USER"] == "student1"
    # the server itself admits the course's staff (see roles.server_access_scopes)
    assert json.loads(env["JUPYTERHUB_OAUTH_ACCESS_SCOPES"]) == [
        "access:servers!server=student1/",
        "access:servers!user=student1",
        "access:servers!group=course-ai-101-reachable",
    ]


async def test_cpu_pod_requests_zero_gpus(make_spawner):
    pod = await pod_for(make_spawner("student1"), "ai-101-cpu")
    assert notebook(pod)["resources"]["limits"]["nvidia.com/gpu"] == "0"
    assert "nodeSelector" not in pod["spec"]
    assert "tolerations" not in pod["spec"]


async def test_mig_pod(make_spawner):
    pod = await pod_for(make_spawner("student3"), None)  # default profile: ml-201-mig
    assert notebook(pod)["resources"]["limits"] == {"nvidia.com/mig-1g.10gb": "1"}
    assert pod["metadata"]["labels"]["coursehub.io/environment"] == "mig"


async def test_gpu_overrides_do_not_leak_into_the_next_spawn(make_spawner):
    spawner = make_spawner("instructor1")
    await pod_for(spawner, "ml-201-mig")
    await pod_for(spawner, "ai-101-gpu")
    gpu = await pod_for(spawner, "ai-101-gpu")
    assert notebook(gpu)["resources"]["limits"] == {
        "cpu": 4.0,
        "memory": 16 * 2**30,
        "nvidia.com/gpu": "1",
    }
    cpu = await pod_for(spawner, "ml-201-cpu")
    assert notebook(cpu)["resources"]["limits"] == {"nvidia.com/gpu": "0"}
    assert "nodeSelector" not in cpu["spec"]
    assert "tolerations" not in cpu["spec"]
    assert cpu["spec"].get("volumes", []) == []
    assert cpu["metadata"]["labels"]["coursehub.io/course"] == "ml-201"
    assert cpu["metadata"]["labels"]["coursehub.io/role"] == "student"


async def test_profile_list_is_the_users_courses(make_spawner):
    spawner = make_spawner("student3")
    profiles = spawner.profile_list(spawner)
    assert [p["slug"] for p in profiles] == ["ml-201-mig", "ml-201-cpu"]
    admin = make_spawner("admin", admin=True)
    assert len(admin.profile_list(admin)) == 4


@pytest.mark.parametrize(
    ("options", "status", "text"),
    [
        ({"profile": "ml-201-mig"}, 403, "You are not enrolled in ml-201"),
        ({"profile": "nope"}, 400, "There is no environment 'nope'"),
        ({"profile": ["ai-101-gpu"]}, 400, "'profile' must be a string"),
    ],
)
async def test_foreign_profile_refused_before_start(make_spawner, options, status, text):
    spawner = make_spawner("student1")
    # JupyterHub runs this hook before Spawner.start and relays web.HTTPError as is.
    with pytest.raises(web.HTTPError) as refused:
        await spawner._run_apply_user_options(options)
    assert refused.value.status_code == status
    assert text in refused.value.jupyterhub_message
    # and load_user_options (inside start) refuses too
    spawner.user_options = options
    with pytest.raises(web.HTTPError):
        await spawner.load_user_options()


async def test_own_profile_accepted_by_the_hook(make_spawner):
    spawner = make_spawner("student1")
    await spawner._run_apply_user_options({"profile": "ai-101-cpu"})
    assert spawner.entitlement.slug == "ai-101-cpu"


class Request:
    """What the spawner reads of the hub's request handler: who made the request."""

    def __init__(self, current_user):
        self.current_user = current_user


@pytest.mark.parametrize(
    ("requester", "owner", "profile", "allowed"),
    [
        # instructor1 teaches ai-101 and studies ml-201: ml-201's instructor may start
        # their server only with ml-201's environments (review 2026-12, finding 13)
        ("instructor2", "instructor1", "ai-101-gpu", False),
        ("instructor2", "instructor1", "ml-201-cpu", True),
        ("ta1", "student1", "ai-101-gpu", True),
        ("student2", "student1", "ai-101-cpu", False),
        ("admin", "instructor1", "ai-101-gpu", True),
        ("instructor1", "instructor1", "ml-201-mig", True),  # one's own spawn
    ],
)
async def test_others_start_a_server_only_with_their_courses_environments(
    make_spawner, requester, owner, profile, allowed
):
    spawner = make_spawner(owner)
    if requester == owner:
        spawner.handler = Request(spawner.user)
    else:
        spawner.handler = Request(make_spawner(requester, admin=requester == "admin").user)
    if allowed:
        await spawner._run_apply_user_options({"profile": profile})
        assert spawner.entitlement.slug == profile
        return
    with pytest.raises(web.HTTPError) as refused:
        await spawner._run_apply_user_options({"profile": profile})
    assert refused.value.status_code == 403
    assert f"{requester} may start {owner}'s server only with environments of courses" in (
        refused.value.jupyterhub_message
    )
    spawner.user_options = {"profile": profile}
    with pytest.raises(web.HTTPError):  # and again inside start
        await spawner.load_user_options()


async def test_spawns_services_request_are_left_to_their_hub_scopes(make_spawner):
    spawner = make_spawner("instructor1")
    spawner.handler = Request(orm.Service(name="coursehub-dev-admin"))
    await spawner._run_apply_user_options({"profile": "ai-101-gpu"})
    assert spawner.entitlement.slug == "ai-101-gpu"


PRIORITY_CLASSES = {
    "staff_priority_class_name": "coursehub-staff",
    "student_priority_class_name": "coursehub-student",
}


async def test_staff_pods_get_the_staff_priority_class_students_the_student_one(make_spawner):
    spawner = make_spawner("instructor1", **PRIORITY_CLASSES)
    # instructor of ai-101, student of ml-201: the class follows the course of each spawn
    assert (await pod_for(spawner, "ai-101-gpu"))["spec"]["priorityClassName"] == (
        "coursehub-staff"
    )
    assert (await pod_for(spawner, "ml-201-mig"))["spec"]["priorityClassName"] == (
        "coursehub-student"
    )
    student = make_spawner("student1", **PRIORITY_CLASSES)
    assert (await pod_for(student, "ai-101-cpu"))["spec"]["priorityClassName"] == (
        "coursehub-student"
    )
    admin = make_spawner("admin", admin=True, **PRIORITY_CLASSES)
    assert (await pod_for(admin, "ml-201-cpu"))["spec"]["priorityClassName"] == ("coursehub-staff")


async def test_without_classes_the_configured_priority_class_stays(make_spawner):
    spawner = make_spawner(
        "instructor1",
        priority_class_name="site-default",
        staff_priority_class_name="coursehub-staff",
    )
    assert (await pod_for(spawner, "ai-101-gpu"))["spec"]["priorityClassName"] == (
        "coursehub-staff"
    )
    # no student class configured: back to the configured one, not the staff class
    assert (await pod_for(spawner, "ml-201-mig"))["spec"]["priorityClassName"] == ("site-default")
    plain = make_spawner("student1")
    assert "priorityClassName" not in (await pod_for(plain, "ai-101-gpu"))["spec"]
