"""The course model on plain data: the rules that hold however a course is built."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from coursehub.catalog.model import (
    GPU,
    Course,
    Environment,
    ResourceRange,
    Staff,
    consistency_issues,
    loc_text,
    profile_slug,
)


def course_dict(**changes) -> dict:
    data = {
        "id": "ai-101",
        "title": "Introduction to Deep Learning",
        "term": "2026-fall",
        "staff": {"instructors": ["instructor1"], "tas": ["ta1", "instructor1"]},
        "students": ["student1", "student2"],
        "environments": [
            {
                "slug": "gpu",
                "display_name": "AI-101 · 1 GPU",
                "image": "ghcr.io/coursehub/notebook-gpu:2026.11",
                "cpu": {"guarantee": "500m", "limit": 8},
                "memory": {"guarantee": "8Gi", "limit": "32Gi"},
                "gpu": {"count": 1, "product": "NVIDIA-A100-SXM4-80GB"},
                "default": True,
            },
            {"slug": "cpu", "display_name": "CPU", "image": "notebook-cpu"},
        ],
    }
    data.update(changes)
    return data


def test_a_valid_course_keeps_quantities_as_written():
    course = Course.model_validate(course_dict())
    gpu, cpu = course.environments
    assert (gpu.cpu.guarantee, gpu.cpu.limit) == ("500m", 8)
    assert str(gpu.cpu.guarantee_amount()) == "0.500"
    assert gpu.memory.limit_amount() == 32 * 2**30
    assert (gpu.gpu_count, cpu.gpu_count) == (1, 0)
    assert gpu.gpu.resource == "nvidia.com/gpu"
    assert cpu.cpu.guarantee is None and cpu.gpu is None
    assert course.environment("cpu") is cpu and course.environment("tpu") is None
    assert profile_slug(course, gpu) == "ai-101-gpu"


def test_roles_and_staff_order():
    course = Course.model_validate(course_dict())
    assert course.staff.all == ("instructor1", "ta1")
    assert course.role_of("ta1") == "staff"
    assert course.role_of("student2") == "student"
    assert course.role_of("student9") is None


def test_models_are_frozen():
    course = Course.model_validate(course_dict())
    with pytest.raises(ValidationError):
        course.title = "x"


@pytest.mark.parametrize(
    "resource", ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "nvidia.com/mig-3g.40gb"]
)
def test_gpu_resources_accepted(resource):
    assert GPU(count=1, resource=resource).resource == resource


@pytest.mark.parametrize(
    "resource", ["amd.com/gpu", "nvidia.com/GPU", "gpu", "nvidia.com/mig-1g", "nvidia.com/gpu "]
)
def test_gpu_resources_refused(resource):
    with pytest.raises(ValidationError, match="resource"):
        GPU(count=1, resource=resource)


def test_gpu_count_zero_is_allowed_negative_is_not():
    assert GPU(count=0).count == 0
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        GPU(count=-1)


@pytest.mark.parametrize("value", ["1", 1.0, True])
def test_gpu_count_must_be_an_integer(value):
    with pytest.raises(ValidationError, match="count"):
        GPU(count=value)


@pytest.mark.parametrize("value", ["2GB", "-1", -1, True, [1], "1.5.2", ""])
def test_bad_quantities_are_refused(value):
    with pytest.raises(ValidationError, match="guarantee"):
        ResourceRange(guarantee=value)


@pytest.mark.parametrize("value", ["500m", "0.5", 2, 0.25, "512Mi", "4G", "16Gi", "1e3"])
def test_kubernetes_quantities_are_accepted(value):
    assert ResourceRange(guarantee=value).guarantee == value


def test_guarantee_above_limit_is_refused_across_units():
    assert ResourceRange(guarantee="1024Mi", limit="1Gi").limit == "1Gi"
    with pytest.raises(ValidationError, match="guarantee '2Gi' is larger than limit '2G'"):
        ResourceRange(guarantee="2Gi", limit="2G")


def test_unknown_keys_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Environment.model_validate({"slug": "x", "display_name": "X", "image": "i", "gpus": 1})


def test_an_environment_is_required():
    with pytest.raises(ValidationError, match="at least 1 item"):
        Course.model_validate(course_dict(environments=[]))


@pytest.mark.parametrize("username", ["Alice", "a b", "a/b", "", "-x"])
def test_bad_usernames_are_refused(username):
    with pytest.raises(ValidationError):
        Staff(instructors=[username])


def test_course_validation_applies_the_consistency_rules():
    data = course_dict(students=["student1", "ta1"])
    with pytest.raises(ValidationError, match="user 'ta1' is listed both as staff"):
        Course.model_validate(data)


def test_consistency_issues_point_at_the_later_entry():
    envs = course_dict()["environments"]
    data = course_dict(
        students=["student1", "ta1", "student1"],
        environments=[envs[0], {**envs[1], "slug": "gpu", "default": True}],
        shared_data=[
            {"name": "data", "claim": "c1", "mount_path": "/data"},
            {"name": "data", "claim": "c2", "mount_path": "/data"},
        ],
    )
    issues = consistency_issues(data)
    assert [loc_text(loc) for loc, _ in issues] == [
        "environments[1].slug",
        "environments[1].default",
        "students[2]",
        "staff.tas[0]",
        "shared_data[1].name",
        "shared_data[1].mount_path",
    ]
    assert "duplicate environment slug 'gpu'" in issues[0][1]


def test_consistency_issues_tolerate_data_of_the_wrong_shape():
    data = {"environments": "gpu", "students": {"roster": 1}, "staff": ["x"], "shared_data": [1]}
    assert consistency_issues(data) == []


def test_loc_text():
    assert loc_text(("environments", 0, "gpu", "count")) == "environments[0].gpu.count"
    assert loc_text(("students", 3)) == "students[3]"
    assert loc_text(()) == ""
