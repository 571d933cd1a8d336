"""The course model: what one ``courses/<id>/course.yaml`` may say.

Pure pydantic v2 models with ``extra="forbid"`` so an unknown key is an error, not
a silent no-op. Loading from files (line numbers, rosters) lives in ``loader.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from coursehub.quantity import QuantityError, parse_quantity

# A DNS-1123 label: course ids and environment slugs end up in pod labels and names.
Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40),
]
# JupyterHub usernames as the catalog accepts them (lower case, no spaces or slashes).
Username = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._@+-]{0,62}$"),
]
# Extended resource names such as nvidia.com/gpu or nvidia.com/mig-1g.10gb.
GPU_RESOURCE_PATTERN = r"^nvidia\.com/(gpu|mig-[0-9]+g\.[0-9]+gb)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_quantity(value: str | int | float | None) -> str | int | float | None:
    if value is None:
        return value
    try:
        amount = parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    if amount < 0:
        raise ValueError(f"{value!r} is negative")
    return value


class ResourceRange(_Strict):
    """A guarantee (Kubernetes request) and a limit, as Kubernetes quantities."""

    guarantee: str | int | float | None = None
    limit: str | int | float | None = None

    _quantities = field_validator("guarantee", "limit")(_check_quantity)

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> ResourceRange:
        if self.guarantee is not None and self.limit is not None:
            if parse_quantity(self.guarantee) > parse_quantity(self.limit):
                raise ValueError(
                    f"guarantee {self.guarantee!r} is larger than limit {self.limit!r}"
                )
        return self

    def guarantee_amount(self) -> Decimal | None:
        return None if self.guarantee is None else parse_quantity(self.guarantee)

    def limit_amount(self) -> Decimal | None:
        return None if self.limit is None else parse_quantity(self.limit)


class GPU(_Strict):
    """GPUs for one environment.

    ``resource`` is the Kubernetes extended resource (a whole GPU or a MIG slice);
    ``product`` is the value of the node label ``nvidia.com/gpu.product`` the pod
    must land on (None: any node that has the resource).
    """

    count: int = Field(ge=0, le=16)
    resource: Annotated[str, StringConstraints(pattern=GPU_RESOURCE_PATTERN)] = "nvidia.com/gpu"
    product: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] | None = (
        None
    )


class Environment(_Strict):
    """One spawnable environment of a course: becomes profile ``<course>-<slug>``."""

    slug: Slug
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: str = ""
    image: Annotated[str, StringConstraints(min_length=1, pattern=r"^\S+$")]
    cpu: ResourceRange = ResourceRange()
    memory: ResourceRange = ResourceRange()
    gpu: GPU | None = None
    default: bool = False

    @property
    def gpu_count(self) -> int:
        return self.gpu.count if self.gpu else 0


class GPUPolicy(_Strict):
    """Per-course GPU limits. Accepted and validated now; enforced by the quota work."""

    max_concurrent_gpus: int | None = Field(default=None, ge=0)
    gpu_hours_per_student_per_week: float | None = Field(default=None, ge=0)
    max_session_hours: float | None = Field(default=None, gt=0)
    gpu_idle_timeout_minutes: float | None = Field(default=None, gt=0)


class SharedData(_Strict):
    """A PersistentVolumeClaim mounted into every server of the course:
    read-only for students, read-write for staff."""

    name: Slug
    claim: Slug
    mount_path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")]


class Staff(_Strict):
    instructors: list[Username] = []
    tas: list[Username] = []

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.instructors, *self.tas]))


class Course(_Strict):
    """One course. ``students`` is always the resolved list of usernames (a roster
    file named in course.yaml is read by the loader before validation)."""

    id: Slug
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    term: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    staff: Staff = Staff()
    students: list[Username] = []
    environments: list[Environment] = Field(min_length=1)
    gpu_policy: GPUPolicy = GPUPolicy()
    shared_data: list[SharedData] = []

    @model_validator(mode="after")
    def _consistent(self) -> Course:
        slugs = [env.slug for env in self.environments]
        duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
        if duplicates:
            raise ValueError(f"duplicate environment slug(s): {', '.join(duplicates)}")
        both = sorted(set(self.staff.all) & set(self.students))
        if both:
            raise ValueError(
                f"user(s) listed as both staff and student: {', '.join(both)}"
            )
        if sum(env.default for env in self.environments) > 1:
            raise ValueError("more than one environment has default: true")
        return self

    def environment(self, slug: str) -> Environment | None:
        return next((env for env in self.environments if env.slug == slug), None)

    def role_of(self, username: str) -> Literal["staff", "student"] | None:
        if username in self.staff.all:
            return "staff"
        if username in self.students:
            return "student"
        return None


def profile_slug(course: Course, environment: Environment) -> str:
    """The KubeSpawner profile slug for an environment, e.g. ``ai-101-gpu``."""
    return f"{course.id}-{environment.slug}"
