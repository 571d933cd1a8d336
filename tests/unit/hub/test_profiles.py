"""Profiles per user, built from the catalog without any server."""

from __future__ import annotations

import pytest

from coursehub.catalog.entitlements import ProfileRefused, resolve_profile
from coursehub.hub.profiles import (
    PROFILE_TRAITS,
    build_profiles,
    priority_class,
)

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def slugs(profiles: list[dict]) -> list[str]:
    return [profile["slug"] for profile in profiles]


@pytest.mark.parametrize(
    ("username", "is_admin", "expected"),
    [
        ("student1", False, ["ai-101-gpu", "ai-101-cpu"]),
        ("student3", False, ["ml-201-mig", "ml-201-cpu"]),
        ("ta1", False, ["ai-101-gpu", "ai-101-cpu"]),
        # staff of ai-101 and student of ml-201: both courses
        ("instructor1", False, ["ai-101-gpu", "ai-101-cpu", "ml-201-mig", "ml-201-cpu"]),
        ("admin", True, ["ai-101-gpu", "ai-101-cpu", "ml-201-mig", "ml-201-cpu"]),
        ("stranger", False, []),
    ],
)
def test_users_see_only_their_courses(catalog, username, is_admin, expected):
    assert slugs(build_profiles(catalog, username, is_admin)) == expected


def test_gpu_profile_is_complete(catalog):
    gpu = build_profiles(catalog, "student1", False)[0]
    assert gpu == {
        "slug": "ai-101-gpu",
        "display_name": "AI-101 · PyTorch · 1 GPU",
        "description": "PyTorch on one A100",
        "default": True,
        "kubespawner_override": {
            "image": "coursehub/notebook-gpu:2025.1",
            "cpu_guarantee": 0.5,
            "cpu_limit": 4.0,
            "mem_guarantee": 2 * 2**30,
            "mem_limit": 16 * 2**30,
            "extra_resource_limits": {"nvidia.com/gpu": "1"},
            "node_selector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
            "tolerations": [GPU_TOLERATION],
            "extra_labels": {
                "coursehub.io/course": "ai-101",
                "coursehub.io/environment": "gpu",
                "coursehub.io/role": "student",
            },
            "environment": {
                "COURSEHUB_COURSE": "ai-101",
                "COURSEHUB_ENVIRONMENT": "gpu",
                "COURSEHUB_ROLE": "student",
            },
            "volumes": {
                "shared-datasets": {
                    "name": "shared-datasets",
                    "persistentVolumeClaim": {"claimName": "ai-101-datasets", "readOnly": True},
                }
            },
            "volume_mounts": {
                "shared-datasets": {
                    "name": "shared-datasets",
                    "mountPath": "/data",
                    "readOnly": True,
                }
            },
        },
    }


def test_cpu_profile_asks_for_zero_gpus_and_no_gpu_node(catalog):
    cpu = build_profiles(catalog, "student1", False)[1]
    override = cpu["kubespawner_override"]
    assert override["extra_resource_limits"] == {"nvidia.com/gpu": "0"}
    assert "node_selector" not in override
    assert "tolerations" not in override
    assert cpu["default"] is False
    # no description in the catalog: the course title and term
    assert cpu["description"] == "Introduction to AI (2025-fall)"


def test_mig_profile_uses_the_mig_resource_without_product_selector(catalog):
    mig = build_profiles(catalog, "student3", False)[0]
    override = mig["kubespawner_override"]
    assert override["extra_resource_limits"] == {"nvidia.com/mig-1g.10gb": "1"}
    assert override["tolerations"] == [GPU_TOLERATION]
    assert "node_selector" not in override
    assert "volumes" not in override  # ml-201 has no shared data


def test_staff_mount_shared_data_read_write(catalog):
    gpu = build_profiles(catalog, "instructor1", False)[0]
    override = gpu["kubespawner_override"]
    assert override["extra_labels"]["coursehub.io/role"] == "staff"
    assert override["volumes"]["shared-datasets"]["persistentVolumeClaim"]["readOnly"] is False
    assert override["volume_mounts"]["shared-datasets"]["readOnly"] is False


def test_admin_outside_a_course_counts_as_staff(catalog):
    profiles = build_profiles(catalog, "admin", True)
    assert {p["kubespawner_override"]["extra_labels"]["coursehub.io/role"] for p in profiles} == {
        "staff"
    }


def test_only_the_first_course_default_stays_default(catalog):
    profiles = build_profiles(catalog, "instructor1", False)
    assert [p["slug"] for p in profiles if p["default"]] == ["ai-101-gpu"]


def test_overrides_touch_only_resettable_traits(catalog):
    for profile in build_profiles(catalog, "admin", True):
        assert set(profile["kubespawner_override"]) <= set(PROFILE_TRAITS)


def test_profiles_are_fresh_dicts(catalog):
    first = build_profiles(catalog, "student1", False)
    first[0]["kubespawner_override"]["extra_resource_limits"]["nvidia.com/gpu"] = "8"
    again = build_profiles(catalog, "student1", False)
    assert again[0]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}


def test_resolve_own_profile(catalog):
    entitlement = resolve_profile(catalog, "student1", False, "ai-101-cpu")
    assert (entitlement.course.id, entitlement.environment.slug, entitlement.role) == (
        "ai-101",
        "cpu",
        "student",
    )


def test_resolve_without_slug_gives_the_default(catalog):
    assert resolve_profile(catalog, "student3", False, None).slug == "ml-201-mig"
    assert resolve_profile(catalog, "student1", False, "").slug == "ai-101-gpu"


def test_foreign_course_is_refused_with_403_naming_the_course(catalog):
    with pytest.raises(ProfileRefused) as refused:
        resolve_profile(catalog, "student1", False, "ml-201-mig")
    assert refused.value.status == 403
    assert refused.value.message == (
        "You are not enrolled in ml-201 (Machine Learning II), so you cannot start its "
        "environment 'ml-201-mig'. Environments you may start: ai-101-gpu, ai-101-cpu."
    )


def test_unknown_profile_is_refused_with_400(catalog):
    with pytest.raises(ProfileRefused) as refused:
        resolve_profile(catalog, "student1", False, "ai-101-tpu")
    assert refused.value.status == 400
    assert "There is no environment 'ai-101-tpu'" in refused.value.message


def test_user_without_course_is_refused(catalog):
    with pytest.raises(ProfileRefused) as refused:
        resolve_profile(catalog, "stranger", False, None)
    assert refused.value.status == 403
    assert "stranger is not enrolled in any course" in refused.value.message


@pytest.mark.parametrize(
    ("username", "is_admin", "slug", "expected"),
    [
        ("student1", False, "ai-101-gpu", "coursehub-student"),
        ("ta1", False, "ai-101-gpu", "coursehub-staff"),
        ("instructor1", False, "ai-101-cpu", "coursehub-staff"),
        # staff of ai-101 but a student of ml-201: the course of the profile decides
        ("instructor1", False, "ml-201-mig", "coursehub-student"),
        ("admin", True, "ml-201-mig", "coursehub-staff"),
        # an admin who attends a course as a student still gets the staff class
        ("student3", True, "ml-201-cpu", "coursehub-staff"),
    ],
)
def test_staff_and_admins_get_the_staff_priority_class(catalog, username, is_admin, slug, expected):
    entitlement = resolve_profile(catalog, username, is_admin, slug)
    assert priority_class(entitlement, is_admin, "coursehub-staff", "coursehub-student") == (
        expected
    )


def test_an_unconfigured_priority_class_is_none(catalog):
    student = resolve_profile(catalog, "student1", False, "ai-101-gpu")
    staff = resolve_profile(catalog, "ta1", False, "ai-101-gpu")
    assert priority_class(student, False, "coursehub-staff", None) is None
    assert priority_class(staff, False, "", "coursehub-student") is None
