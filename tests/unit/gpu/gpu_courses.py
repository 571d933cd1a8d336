"""Courses with GPU policies, built with the real catalog model."""

from __future__ import annotations

from coursehub.catalog.model import Course


def course(**policy) -> Course:
    return Course.model_validate(
        {
            "id": "ai-101",
            "title": "Introduction to AI",
            "term": "test",
            "staff": {"instructors": ["prof"]},
            "students": ["ada", "alan"],
            "environments": [
                {
                    "slug": "gpu",
                    "display_name": "AI-101 · 1 GPU",
                    "image": "coursehub/notebook-gpu:test",
                    "cpu": {"guarantee": 1, "limit": 2},
                    "memory": {"guarantee": "1Gi", "limit": "2Gi"},
                    "gpu": {"count": 1},
                },
                {
                    "slug": "gpu2",
                    "display_name": "AI-101 · 2 GPUs",
                    "image": "coursehub/notebook-gpu:test",
                    "cpu": {"guarantee": 1, "limit": 2},
                    "memory": {"guarantee": "1Gi", "limit": "2Gi"},
                    "gpu": {"count": 2},
                },
                {
                    "slug": "cpu",
                    "display_name": "AI-101 · CPU",
                    "image": "coursehub/notebook-cpu:test",
                    "cpu": {"guarantee": 1, "limit": 2},
                    "memory": {"guarantee": "1Gi", "limit": "2Gi"},
                },
            ],
            "gpu_policy": policy,
        }
    )
