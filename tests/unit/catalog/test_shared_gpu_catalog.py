"""Shared GPU environments in course files: a share of a time-sliced or MPS GPU, validated
with file:line errors, counted in GPU-equivalents (count x share)."""

from __future__ import annotations

import pytest
from catalog_files import DEMO_COURSE, LINE_GPU

from coursehub.catalog import load_course
from coursehub.cli.course import summary

GPU_LINE = "    gpu: {count: 1, product: NVIDIA-A100-SXM4-80GB}\n"


def with_gpu(gpu: str) -> str:
    assert GPU_LINE in DEMO_COURSE
    return DEMO_COURSE.replace(GPU_LINE, f"    gpu: {gpu}\n", 1)


@pytest.mark.parametrize(
    ("gpu", "equivalents"),
    [
        ("{count: 1, resource: nvidia.com/gpu.shared, share: 0.25}", 0.25),
        ("{count: 2, resource: nvidia.com/gpu.shared, share: 0.5}", 1.0),
        ("{count: 1, share: 0.25, product: Tesla-T4-SHARED}", 0.25),
        ("{count: 2, product: NVIDIA-A100-SXM4-80GB}", 2.0),
        ("{count: 1, resource: nvidia.com/mig-1g.10gb}", 1.0),
    ],
    ids=["renamed-quarter", "two-halves", "replicas-label", "whole", "mig"],
)
def test_gpu_equivalents_are_count_times_share(write_course, gpu, equivalents):
    course, problems = load_course(write_course(with_gpu(gpu)))
    assert problems == []
    assert course.environment("gpu").gpu_equivalents == equivalents


@pytest.mark.parametrize(
    ("gpu", "field", "words"),
    [
        (
            "{count: 1, resource: nvidia.com/gpu.shared}",
            "environments[0].gpu",
            "say which part of a GPU one replica is",
        ),
        (
            "{count: 1, resource: nvidia.com/mig-1g.10gb, share: 0.5}",
            "environments[0].gpu",
            "a MIG slice cannot be shared",
        ),
        (
            "{count: 1, resource: nvidia.com/gpu.shared, share: 0.3}",
            "environments[0].gpu",
            "use 1/replicas",
        ),
        (
            "{count: 1, resource: nvidia.com/gpu.shared, share: 0}",
            "environments[0].gpu.share",
            "greater than 0",
        ),
        (
            "{count: 1, resource: nvidia.com/gpu.shared, share: 2}",
            "environments[0].gpu.share",
            "less than or equal to 1",
        ),
        (
            "{count: 1, resource: nvidia.com/gpu.shared, share: '0.25'}",
            "environments[0].gpu.share",
            "valid number",
        ),
        (
            "{count: 1, share: 0.25, product: Tesla-T4}",
            "environments[0].gpu",
            "'Tesla-T4-SHARED'",
        ),
        (
            "{count: 1, product: Tesla-T4-SHARED}",
            "environments[0].gpu",
            "names shared GPUs",
        ),
    ],
    ids=[
        "shared-without-share",
        "mig-shared",
        "not-a-replica",
        "zero",
        "above-one",
        "text",
        "product-not-shared",
        "shared-product-whole",
    ],
)
def test_a_share_that_does_not_fit_is_refused_with_its_line(write_course, gpu, field, words):
    course, problems = load_course(write_course(with_gpu(gpu)))
    assert course is None
    assert [(p.path.name, p.line, p.field) for p in problems] == [("course.yaml", LINE_GPU, field)]
    assert words in problems[0].message, problems[0].message


def test_course_validate_names_the_share_in_gpus(write_course):
    course, _ = load_course(
        write_course(with_gpu("{count: 2, resource: nvidia.com/gpu.shared, share: 0.25}"))
    )
    assert "[gpu: 2 x nvidia.com/gpu.shared = 0.5 GPU (default), cpu]" in summary(course)
