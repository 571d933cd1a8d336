"""``policy_course``: a course with every GPU policy field set."""

from __future__ import annotations

import pytest
from factories import gpu_policy_course

from coursehub.catalog.model import Course


@pytest.fixture
def policy_course() -> Course:
    return gpu_policy_course(
        max_concurrent_gpus=2,
        gpu_hours_per_student_per_week=10,
        max_session_hours=4,
        gpu_idle_timeout_minutes=30,
    )
