"""Kubernetes objects a course needs besides its users' pods (pure builders).

In production the Helm chart creates them; ``coursehub dev`` creates them in the dev
cluster so the sample courses' shared data is mounted as it would be.
"""

from __future__ import annotations

from coursehub.catalog.model import Course, SharedData
from coursehub.hub.profiles import COURSE_LABEL

SHARED_DATA_SIZE = "50Gi"


def make_shared_data_claim(course: Course, shared: SharedData, namespace: str) -> dict:
    """The PersistentVolumeClaim behind a course's shared-data folder: ReadWriteMany,
    because every student pod of the course mounts it at once (read-only for students)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": shared.claim,
            "namespace": namespace,
            "labels": {
                COURSE_LABEL: course.id,
                "app.kubernetes.io/managed-by": "coursehub",
                "coursehub.io/shared-data": shared.name,
            },
        },
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": SHARED_DATA_SIZE}},
        },
    }


def shared_data_claims(courses: list[Course], namespace: str) -> list[dict]:
    """Every claim the courses' shared data needs, one per claim name."""
    claims: dict[str, dict] = {}
    for course in courses:
        for shared in course.shared_data:
            claims.setdefault(shared.claim, make_shared_data_claim(course, shared, namespace))
    return list(claims.values())
