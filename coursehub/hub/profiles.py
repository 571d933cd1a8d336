"""KubeSpawner profiles from the course catalog: pure functions, no I/O.

A user may start the environments of the courses they belong to (students and staff
alike); admins may start every course's environments (``entitlements``). Each becomes one
KubeSpawner profile whose slug is ``<course-id>-<env-slug>`` and whose
``kubespawner_override`` carries everything that differs between environments: image,
CPU and memory, GPUs (resource limit, node selector, toleration), pod labels and the
course's shared-data volumes.

Callers may rely on:

- ``build_profiles(catalog, username, is_admin)`` returns a new list of plain dicts
  (JSON-serialisable, safe to mutate), courses ordered by id, environments in catalog order.
- which environments a user may start, and which one a spawn request names, is the
  catalog's rule (``coursehub.catalog.entitlements``), which the service's GPU enforcer
  applies too.
- ``PROFILE_TRAITS`` names every spawner trait a profile may override, so the spawner can
  reset them between spawns (KubeSpawner merges dict overrides into the current values).
- ``priority_class(...)`` names the PriorityClass of a spawn: staff's above students'.
- ``check_requester(...)`` refuses (``ProfileRefused``) a spawn that staff request for
  someone else with an environment of a course they do not teach.
"""

from __future__ import annotations

from typing import Literal

from coursehub.catalog import Catalog
from coursehub.catalog.entitlements import (
    Entitlement,
    ProfileRefused,
    entitlements,
    marked_default,
)
from coursehub.catalog.model import Course, Environment
from coursehub.names import GPU_PRODUCT_LABEL, GPU_TOLERATION, NO_GPU_LIMITS
from coursehub.quantity import parse_quantity

Role = Literal["staff", "student"]

COURSE_LABEL = "coursehub.io/course"
ENVIRONMENT_LABEL = "coursehub.io/environment"
ROLE_LABEL = "coursehub.io/role"

PROFILE_TRAITS = (
    "image",
    "cpu_guarantee",
    "cpu_limit",
    "mem_guarantee",
    "mem_limit",
    "extra_resource_limits",
    "node_selector",
    "tolerations",
    "extra_labels",
    "volumes",
    "volume_mounts",
    "environment",
)


def build_profiles(catalog: Catalog, username: str, is_admin: bool) -> list[dict]:
    """The KubeSpawner ``profile_list`` for one user.

    At most one profile is marked default: the first course's default environment (a
    course without one contributes no default). KubeSpawner falls back to the first
    profile when none is marked.
    """
    allowed = entitlements(catalog, username, is_admin)
    default = marked_default(allowed)
    return [{**build_profile(item), "default": item is default} for item in allowed]


def build_profile(entitlement: Entitlement) -> dict:
    """One KubeSpawner profile dict for an environment in a role."""
    course, env = entitlement.course, entitlement.environment
    return {
        "slug": entitlement.slug,
        "display_name": env.display_name,
        "description": env.description or f"{course.title} ({course.term})",
        "default": env.default,
        "kubespawner_override": build_overrides(entitlement),
    }


def build_overrides(entitlement: Entitlement) -> dict:
    """The ``kubespawner_override`` of one profile (only traits in ``PROFILE_TRAITS``)."""
    course, env = entitlement.course, entitlement.environment
    overrides: dict = {
        "image": env.image,
        "extra_labels": pod_labels(entitlement),
        "environment": {
            "COURSEHUB_COURSE": course.id,
            "COURSEHUB_ENVIRONMENT": env.slug,
            "COURSEHUB_ROLE": entitlement.role,
        },
    }
    overrides.update(_resource_overrides(env))
    if env.gpu is not None and env.gpu.count > 0:
        overrides["extra_resource_limits"] = {env.gpu.resource: str(env.gpu.count)}
        overrides["tolerations"] = [dict(GPU_TOLERATION)]
        if env.gpu.product:
            overrides["node_selector"] = {GPU_PRODUCT_LABEL: env.gpu.product}
    else:
        overrides["extra_resource_limits"] = dict(NO_GPU_LIMITS)
    volumes, mounts = shared_data_volumes(course, entitlement.role)
    if volumes:
        overrides["volumes"] = volumes
        overrides["volume_mounts"] = mounts
    return overrides


def pod_labels(entitlement: Entitlement) -> dict[str, str]:
    """Labels that name course, environment and the user's role on the pod."""
    return {
        COURSE_LABEL: entitlement.course.id,
        ENVIRONMENT_LABEL: entitlement.environment.slug,
        ROLE_LABEL: entitlement.role,
    }


def shared_data_volumes(course: Course, role: Role) -> tuple[dict, dict]:
    """``(volumes, volume_mounts)`` as dicts keyed by volume name (KubeSpawner 7 form,
    so they merge with configured volumes such as the home directory).

    Students mount read-only; staff read-write.
    """
    read_only = role == "student"
    volumes, mounts = {}, {}
    for shared in course.shared_data:
        name = f"shared-{shared.name}"
        volumes[name] = {
            "name": name,
            "persistentVolumeClaim": {"claimName": shared.claim, "readOnly": read_only},
        }
        mounts[name] = {"name": name, "mountPath": shared.mount_path, "readOnly": read_only}
    return volumes, mounts


def _resource_overrides(env: Environment) -> dict:
    # KubeSpawner's cpu traits are floats and its memory traits bytes: convert the
    # catalog's Kubernetes quantities ("500m", "4Gi") rather than pass strings through.
    overrides: dict = {}
    if env.cpu.guarantee is not None:
        overrides["cpu_guarantee"] = float(parse_quantity(env.cpu.guarantee))
    if env.cpu.limit is not None:
        overrides["cpu_limit"] = float(parse_quantity(env.cpu.limit))
    if env.memory.guarantee is not None:
        overrides["mem_guarantee"] = int(parse_quantity(env.memory.guarantee))
    if env.memory.limit is not None:
        overrides["mem_limit"] = int(parse_quantity(env.memory.limit))
    return overrides


def priority_class(
    entitlement: Entitlement, is_admin: bool, staff_class: str | None, student_class: str | None
) -> str | None:
    """The PriorityClass of a server started for ``entitlement``: the staff class for the
    course's instructors and TAs and for admins (whatever their role in the course), the
    student class for students. ``None`` where that class is not configured."""
    if entitlement.role == "staff" or is_admin:
        return staff_class or None
    return student_class or None


def check_requester(
    entitlement: Entitlement, owner: str, requester: str | None, requester_is_admin: bool
) -> None:
    """A spawn someone other than ``owner`` asks for (course staff starting a student's
    server): only with an environment of a course the requester teaches, so that staff of
    one course cannot spend another course's GPUs or the student's hours there. Admins may
    start anything; ``requester`` None (the owner, a service, no request) is not checked."""
    if requester is None or requester == owner or requester_is_admin:
        return
    course = entitlement.course
    if course.role_of(requester) == "staff":
        return
    raise ProfileRefused(
        403,
        f"{requester} may start {owner}'s server only with environments of courses "
        f"{requester} teaches; {entitlement.slug!r} belongs to {course.id} ({course.title}).",
    )
