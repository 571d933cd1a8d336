"""Factories for courses and catalogs: the one place tests build course dicts, ``Course`` and
``Catalog`` objects and course folders.

Every factory returns a fresh object (no YAML anchors when written, no shared state
between tests) and takes keyword overrides:

- ``small()``, ``roomy()``: cpu/memory requests. ``small`` lets five servers fit the dev
  cluster's nodes; ``roomy`` is what the GPU policy tests use.
- ``environment(slug="cpu", display_name=None, image="img", **fields)``: one environment
  dict; ``display_name`` defaults to ``slug.upper()``.
- ``course_dict(course_id="ai-101", *, title=None, term="t", instructors=(), tas=None,
  students=(), environments=None, gpu_policy=None, **overrides)``: one course dict;
  ``title`` defaults to the id, ``environments`` to one CPU ``environment()``. ``staff`` is
  left out when there are neither instructors nor TAs; ``**overrides`` set any other key.
- ``course(course_id="ai-101", **same)``: that dict as a validated ``Course``.
- ``catalog(*courses, root=Path("courses"), **fields)``: a ``Catalog`` of ``Course``
  objects (no files).
- ``write_courses(root, *course_dicts)``: ``<root>/<id>/course.yaml`` per dict; returns root.
- ``hub_courses(students=5)``: the catalog the hub integration tests run (ai-101 with
  instructor1, student1..N, a 1-A100 ``gpu`` default and ``cpu``; ml-201 with instructor2,
  student-ml1, a MIG ``mig`` and ``cpu``).
- ``gpu_course_dict(course_id, students, policy, gpu)``: a platform course with a GPU
  environment ``gpu`` (default) and a CPU one, staff ``teacher-<id>``, ``gpu_policy``.
- ``gpu_policy_course(**policy)``: the unit tests' ai-101 ``Course`` (staff ``prof``, students
  ada and alan; ``gpu``, ``gpu2``, ``cpu`` environments) with that ``gpu_policy``.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course

A100 = "NVIDIA-A100-SXM4-80GB"
MIG_1G = "nvidia.com/mig-1g.10gb"
GPU_IMAGE = "coursehub/notebook-gpu:test"
CPU_IMAGE = "coursehub/notebook-cpu:test"


def small() -> dict:
    """Small requests, so five servers fit the dev cluster's nodes."""
    return {
        "cpu": {"guarantee": "100m", "limit": 1},
        "memory": {"guarantee": "128Mi", "limit": "1Gi"},
    }


def roomy() -> dict:
    """One CPU (two at most) and 1-2 GiB, as a real course environment asks."""
    return {
        "cpu": {"guarantee": 1, "limit": 2},
        "memory": {"guarantee": "1Gi", "limit": "2Gi"},
    }


def environment(
    slug: str = "cpu", display_name: str | None = None, image: str = "img", **fields
) -> dict:
    """One environment dict; ``fields`` add or replace keys (``gpu``, ``default``, ``cpu``...)."""
    return {"slug": slug, "display_name": display_name or slug.upper(), "image": image, **fields}


def course_dict(
    course_id: str = "ai-101",
    *,
    title: str | None = None,
    term: str = "t",
    instructors: list[str] | tuple[str, ...] = (),
    tas: list[str] | tuple[str, ...] | None = None,
    students: list[str] | tuple[str, ...] = (),
    environments: list[dict] | None = None,
    gpu_policy: dict | None = None,
    **overrides,
) -> dict:
    """One course dict, as a ``course.yaml`` holds it."""
    course: dict = {"id": course_id, "title": title or course_id, "term": term}
    if instructors or tas is not None:
        course["staff"] = {"instructors": list(instructors)}
        if tas is not None:
            course["staff"]["tas"] = list(tas)
    course["students"] = list(students)
    course["environments"] = environments if environments is not None else [environment()]
    if gpu_policy is not None:
        course["gpu_policy"] = gpu_policy
    course.update(overrides)
    return course


def course(course_id: str = "ai-101", **fields) -> Course:
    """``course_dict(course_id, **fields)`` validated by the real catalog model."""
    return Course.model_validate(course_dict(course_id, **fields))


def catalog(*courses: Course, root: Path = Path("courses"), **fields) -> Catalog:
    """A real ``Catalog`` of already-validated courses (no files needed); ``fields`` go to
    ``Catalog`` (``problems``, ``files``...)."""
    return Catalog(root=root, courses={course.id: course for course in courses}, **fields)


def write_courses(root: Path, *courses: dict) -> Path:
    """Write ``<root>/<id>/course.yaml`` for each course dict; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    yaml = YAML()
    for course in courses:
        folder = root / course["id"]
        folder.mkdir(exist_ok=True)
        with open(folder / "course.yaml", "w") as file:
            yaml.dump(course, file)
    return root


def hub_courses(students: int = 5) -> list[dict]:
    """ai-101: instructor1, student1..N, envs gpu (1 A100, default) and cpu;
    ml-201: instructor2, student-ml1, envs mig (1 MIG 1g.10gb slice) and cpu."""
    return [
        course_dict(
            "ai-101",
            title="Introduction to AI",
            term="test",
            instructors=["instructor1"],
            students=[f"student{n}" for n in range(1, students + 1)],
            environments=[
                environment(
                    "gpu",
                    "AI-101 · 1 GPU",
                    GPU_IMAGE,
                    **small(),
                    gpu={"count": 1, "product": A100},
                    default=True,
                ),
                environment("cpu", "AI-101 · CPU", CPU_IMAGE, **small()),
            ],
        ),
        course_dict(
            "ml-201",
            title="Machine Learning II",
            term="test",
            instructors=["instructor2"],
            students=["student-ml1"],
            environments=[
                environment(
                    "mig",
                    "ML-201 · MIG slice",
                    GPU_IMAGE,
                    **small(),
                    gpu={"count": 1, "resource": MIG_1G},
                ),
                environment("cpu", "ML-201 · CPU", CPU_IMAGE, **small()),
            ],
        ),
    ]


def gpu_course_dict(course_id: str, students: list[str], policy: dict, gpu: dict) -> dict:
    """A platform course with GPU environment ``gpu`` (default) and ``cpu``, staff
    ``teacher-<id>`` and ``gpu_policy`` ``policy``."""
    return course_dict(
        course_id,
        title=f"{course_id} title",
        term="test",
        instructors=[f"teacher-{course_id}"],
        students=students,
        environments=[
            environment(
                "gpu", f"{course_id.upper()} · 1 GPU", GPU_IMAGE, **small(), gpu=gpu, default=True
            ),
            environment("cpu", f"{course_id.upper()} · CPU", CPU_IMAGE, **small()),
        ],
        gpu_policy=policy,
    )


def gpu_policy_course(**policy) -> Course:
    """The GPU policy unit tests' ai-101 (``gpu``: 1 GPU, ``gpu2``: 2 GPUs, ``cpu``)."""
    return course(
        "ai-101",
        title="Introduction to AI",
        term="test",
        instructors=["prof"],
        students=["ada", "alan"],
        environments=[
            environment("gpu", "AI-101 · 1 GPU", GPU_IMAGE, **roomy(), gpu={"count": 1}),
            environment("gpu2", "AI-101 · 2 GPUs", GPU_IMAGE, **roomy(), gpu={"count": 2}),
            environment("cpu", "AI-101 · CPU", CPU_IMAGE, **roomy()),
        ],
        gpu_policy=policy,
    )
