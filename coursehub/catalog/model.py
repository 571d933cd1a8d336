"""The course model: what one ``courses/<id>/course.yaml`` may say.

Pure pydantic v2 models, strict and with ``extra="forbid"``, so an unknown key or a value
of the wrong type is an error, not a silent no-op. Loading from files (line numbers,
rosters) lives in ``loader.py``.

Callers may rely on: every model is frozen; ``Course.students`` is the resolved list of
usernames; cpu/memory quantities keep the form they were written in (``"500m"``, ``4``);
``consistency_issues`` is the single source of the cross-field rules, used both by
``Course`` itself and by the loader (which maps each issue to a file line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from coursehub.quantity import QuantityError, parse_quantity

# Whole-value patterns. Pydantic checks them with its Rust regex engine, where ``$`` is the
# end of the text; Python code that uses them must call ``re.fullmatch`` (``re.match``
# with ``$`` would accept a trailing newline).
SLUG_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@+-]{0,62}$"
# Extended resource names such as nvidia.com/gpu, nvidia.com/gpu.shared (a time-sliced or
# MPS replica, as the NVIDIA device plugin renames it) or nvidia.com/mig-1g.10gb.
GPU_RESOURCE_PATTERN = r"^nvidia\.com/(gpu|gpu\.shared|mig-[0-9]+g\.[0-9]+gb)$"
SHARED_GPU_RESOURCE = "nvidia.com/gpu.shared"
WHOLE_GPU_RESOURCE = "nvidia.com/gpu"
# The device plugin appends this to nvidia.com/gpu.product on nodes whose GPUs it shares
# without renaming the resource.
SHARED_PRODUCT_SUFFIX = "-SHARED"
GPU_PRODUCT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MOUNT_PATH_PATTERN = r"^/[^\s]*$"
IMAGE_PATTERN = r"^\S+$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_EMAIL = 254

# What each pattern means, in words a course author understands (used in error messages).
PATTERN_HELP = {
    SLUG_PATTERN: "use lower-case letters, digits and '-', starting and ending with a letter "
    "or digit (a DNS label, e.g. 'gpu' or 'ai-101')",
    USERNAME_PATTERN: "usernames are lower case: letters, digits and . _ @ + -, starting "
    "with a letter or digit",
    GPU_RESOURCE_PATTERN: "use 'nvidia.com/gpu' for whole GPUs, 'nvidia.com/gpu.shared' for "
    "shares of time-sliced or MPS GPUs, or a MIG resource such as 'nvidia.com/mig-1g.10gb'",
    GPU_PRODUCT_PATTERN: "use the node label value nvidia.com/gpu.product, "
    "e.g. 'NVIDIA-A100-SXM4-80GB'",
    MOUNT_PATH_PATTERN: "use an absolute path without spaces, e.g. '/home/jovyan/shared/data'",
    IMAGE_PATTERN: "use an image reference without spaces, e.g. 'ghcr.io/org/image:tag'",
    EMAIL_PATTERN: "write the e-mail address the person signs in with, e.g. 'jane.doe@uni.edu'",
}

# A DNS-1123 label: course ids and environment slugs end up in pod labels and names.
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=40)]
# JupyterHub usernames as the catalog accepts them (lower case, no spaces or slashes).
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=MAX_EMAIL)]

# Validation context key: the loader checks consistency itself, to report line numbers.
SKIP_CONSISTENCY = "coursehub_skip_consistency"


def _check_quantity(value: Any) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(
            f"expected a Kubernetes quantity such as 2, 500m or 4Gi, got {type(value).__name__}"
        )
    try:
        amount = parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    if amount < 0:
        raise ValueError(f"{value!r} is negative")
    return value


# A Kubernetes quantity ("500m", "4Gi", 2), kept as written.
Quantity = Annotated[str | int | float, PlainValidator(_check_quantity)]


class _Strict(BaseModel):
    # strict: YAML already types its values, so "1" for a count is a mistake, not a number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ResourceRange(_Strict):
    """A guarantee (Kubernetes request) and a limit, as Kubernetes quantities."""

    guarantee: Quantity | None = None
    limit: Quantity | None = None

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> ResourceRange:
        both = self.guarantee is not None and self.limit is not None
        if both and parse_quantity(self.guarantee) > parse_quantity(self.limit):
            raise ValueError(
                f"guarantee {self.guarantee!r} is larger than limit {self.limit!r}; "
                "the guarantee must not exceed the limit"
            )
        return self

    def guarantee_amount(self) -> Decimal | None:
        return None if self.guarantee is None else parse_quantity(self.guarantee)

    def limit_amount(self) -> Decimal | None:
        return None if self.limit is None else parse_quantity(self.limit)


class GPU(_Strict):
    """GPUs for one environment.

    ``resource`` is the Kubernetes extended resource (a whole GPU, a MIG slice, or a
    replica of a shared GPU); ``product`` is the value of the node label
    ``nvidia.com/gpu.product`` the pod must land on (None: any node that has the
    resource). A GPU environment is one with ``count > 0``.

    ``share`` is how much of one physical GPU one unit of ``resource`` is: 1 for a whole
    GPU or a MIG slice, ``1/replicas`` for a time-sliced or MPS GPU (0.25 when the device
    plugin advertises 4 replicas per GPU). Caps, budgets and the ledger count
    GPU-equivalents, ``count * share``.
    """

    count: int = Field(ge=0, le=16)
    resource: Annotated[str, StringConstraints(pattern=GPU_RESOURCE_PATTERN)] = WHOLE_GPU_RESOURCE
    product: Annotated[str, StringConstraints(pattern=GPU_PRODUCT_PATTERN)] | None = None
    share: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _share_fits_resource(self) -> GPU:
        problem = share_problem(self.resource, self.product, self.share)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def shared(self) -> bool:
        return self.share < 1

    @property
    def equivalents(self) -> float:
        return self.count * self.share


def share_problem(resource: str, product: str | None, share: float) -> str | None:
    """Why ``share`` does not fit ``resource`` and ``product`` (None: it fits)."""
    replicas = 1 / share
    if abs(replicas - round(replicas)) > 1e-6:
        return (
            f"share {share:g} is not one replica of a GPU: a shared GPU is split into whole "
            "replicas, so use 1/replicas (0.5 for 2, 0.25 for 4, 0.125 for 8)"
        )
    if share < 1 and resource not in (WHOLE_GPU_RESOURCE, SHARED_GPU_RESOURCE):
        return (
            f"share {share:g} with {resource!r}: a MIG slice cannot be shared; use "
            f"{SHARED_GPU_RESOURCE!r} (or {WHOLE_GPU_RESOURCE!r} on nodes labelled "
            "nvidia.com/gpu.replicas) for a share of a time-sliced or MPS GPU"
        )
    if share == 1 and resource == SHARED_GPU_RESOURCE:
        return (
            f"{SHARED_GPU_RESOURCE!r} is a replica of a shared GPU: say which part of a GPU "
            "one replica is, e.g. share: 0.25 when the device plugin makes 4 replicas per GPU"
        )
    shared_product = (product or "").endswith(SHARED_PRODUCT_SUFFIX)
    if resource == WHOLE_GPU_RESOURCE and product and shared_product != (share < 1):
        if share < 1:
            return (
                f"share {share:g} of {WHOLE_GPU_RESOURCE!r} on product {product!r}: the device "
                f"plugin labels nodes with shared GPUs '{product}{SHARED_PRODUCT_SUFFIX}'"
            )
        return (
            f"product {product!r} names shared GPUs: set share to one replica's part of a "
            "GPU, e.g. share: 0.25"
        )
    return None


class Environment(_Strict):
    """One spawnable environment of a course: becomes profile ``<course>-<slug>``."""

    slug: Slug
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: str = ""
    image: Annotated[str, StringConstraints(min_length=1, pattern=IMAGE_PATTERN)]
    cpu: ResourceRange = ResourceRange()
    memory: ResourceRange = ResourceRange()
    gpu: GPU | None = None
    default: bool = False

    @property
    def gpu_count(self) -> int:
        return self.gpu.count if self.gpu else 0

    @property
    def gpu_equivalents(self) -> float:
        """Whole GPUs' worth of what the environment holds (a quarter share: 0.25)."""
        return self.gpu.equivalents if self.gpu else 0.0


class GPUPolicy(_Strict):
    """Per-course GPU limits, enforced by ``coursehub.gpu`` (see docs/gpu.md).

    None means "no limit" for each field.
    """

    # In GPU-equivalents: a cap of 8 admits 32 sessions on quarter shares.
    max_concurrent_gpus: int | None = Field(default=None, ge=0)
    gpu_hours_per_student_per_week: float | None = Field(default=None, ge=0)
    max_session_hours: float | None = Field(default=None, gt=0)
    # Idle is judged by the server's GPU telemetry (utilisation at or above
    # ``gpu_busy_percent``, or a kernel executing), never by browser activity.
    gpu_idle_timeout_minutes: float | None = Field(default=None, gt=0)
    # How long before an idle stop the student is warned in JupyterLab (None: 10 min).
    gpu_idle_warning_minutes: float | None = Field(default=None, gt=0)
    # GPU utilisation (percent) from which the GPU counts as in use: busy for idleness,
    # and charged as used GPU-hours in the ledger.
    gpu_busy_percent: float = Field(default=10, gt=0, le=100)
    # Staff (instructors, TAs) of the course are not held to its cap and budget; their
    # sessions are still recorded and count towards what the course holds.
    staff_exempt: bool = True
    # Past the cap: queue the spawn (position shown while it waits, started in order when
    # a GPU of the course frees up) instead of refusing it at once.
    queue_when_full: bool = False


class SharedData(_Strict):
    """A PersistentVolumeClaim mounted into every server of the course:
    read-only for students, read-write for staff."""

    name: Slug
    claim: Slug
    mount_path: Annotated[str, StringConstraints(pattern=MOUNT_PATH_PATTERN)]


ASSIGNMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
PATTERN_HELP[ASSIGNMENT_NAME_PATTERN] = (
    "use letters, digits, '_' and '-', starting with a letter or digit (nbgrader's "
    "assignment folder name, e.g. 'ps1')"
)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "the due date has no time zone: add an offset such as +00:00 "
            "(e.g. 2026-12-15T23:59:00+00:00), so every student gets the same deadline"
        )
    return value


class Grading(_Strict):
    """How the assignment's autograding pods run: the image and GPU of one of the course's
    environments (default: its first environment without a GPU), a CPU and memory size,
    the disk each submission may fill (its folder, /tmp and /dev/shm together), and time
    limits per cell and per notebook."""

    environment: Slug | None = None
    cpu: Quantity = "1"
    memory: Quantity = "2Gi"
    disk: Quantity = "1Gi"
    cell_timeout_seconds: float = Field(default=60, gt=0, le=3600)
    notebook_timeout_seconds: float = Field(default=600, gt=0, le=6 * 3600)
    max_output_kb: int = Field(default=1024, ge=1, le=64 * 1024)


class Assignment(_Strict):
    """An assignment's course-level facts; its notebooks live in ``source/<name>/``.

    ``due`` is always time-zone aware: submissions after it are marked late."""

    name: Annotated[str, StringConstraints(pattern=ASSIGNMENT_NAME_PATTERN)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    # Not strict: a quoted ISO 8601 string is as clear as YAML's own timestamp.
    due: Annotated[datetime, Field(strict=False), AfterValidator(_aware)]
    description: str = ""
    grading: Grading = Grading()


class Staff(_Strict):
    instructors: list[Username] = []
    tas: list[Username] = []

    @property
    def all(self) -> tuple[str, ...]:
        """Instructors then TAs, each once."""
        return tuple(dict.fromkeys([*self.instructors, *self.tas]))


LTI_CONTEXT_ID_PATTERN = r"^[\x21-\x7e]{1,255}$"
PATTERN_HELP[LTI_CONTEXT_ID_PATTERN] = (
    "use the LMS course's LTI context id exactly as the launch sends it (up to 255 "
    "visible ASCII characters, no spaces); the page shown for an unknown course names it"
)


class LTI(_Strict):
    """Which LMS courses launch into this course over LTI 1.3: the ``id`` of the launch's
    context claim (``https://purl.imsglobal.org/spec/lti/claim/context``), as the LMS sends
    it. A context may belong to one course only (the loader refuses a second)."""

    context_ids: list[Annotated[str, StringConstraints(pattern=LTI_CONTEXT_ID_PATTERN)]] = Field(
        min_length=1
    )


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
    assignments: list[Assignment] = []
    lti: LTI | None = None
    # The address each listed person signs in with (username -> e-mail): a sign-in gets a
    # listed username only with a verified e-mail equal to it (or a binding in the hub's
    # settings). The loader adds the roster file's email column.
    emails: dict[Username, Email] = {}

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Course:
        if (info.context or {}).get(SKIP_CONSISTENCY):
            return self
        issues = consistency_issues(self.model_dump())
        if issues:
            raise ValueError("; ".join(f"{loc_text(loc)}: {msg}" for loc, msg in issues))
        return self

    def environment(self, slug: str) -> Environment | None:
        return next((env for env in self.environments if env.slug == slug), None)

    def assignment(self, name: str) -> Assignment | None:
        return next((item for item in self.assignments if item.name == name), None)

    def grading_environment(self, assignment: Assignment) -> Environment:
        """Whose image (and GPU) grades the assignment: the one it names, else the course's
        first environment without a GPU, else its first."""
        wanted = assignment.grading.environment
        for env in self.environments:
            if env.slug == wanted:
                return env
        return next((env for env in self.environments if env.gpu is None), self.environments[0])

    def role_of(self, username: str) -> Literal["staff", "student"] | None:
        if username in self.staff.all:
            return "staff"
        if username in self.students:
            return "student"
        return None


Loc = tuple[str | int, ...]


def loc_text(loc: Loc) -> str:
    """``("environments", 0, "gpu")`` -> ``"environments[0].gpu"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def consistency_issues(course: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """The cross-field rules of one course, checked on plain data (tolerant of values of
    the wrong shape, which field validation reports). Returns ``(loc, message)`` pairs,
    each ``loc`` pointing at the later of two clashing entries."""
    issues: list[tuple[Loc, str]] = []

    def add(*loc: str | int, message: str) -> None:
        issues.append((loc, message))

    def items(key: str) -> list[tuple[int, Any]]:
        value = course.get(key)
        return list(enumerate(value)) if isinstance(value, list) else []

    first_slug: dict[str, int] = {}
    first_default: int | None = None
    for index, env in items("environments"):
        if not isinstance(env, Mapping):
            continue
        slug = env.get("slug")
        if isinstance(slug, str):
            if slug in first_slug:
                add(
                    "environments",
                    index,
                    "slug",
                    message=f"duplicate environment slug {slug!r}: environments"
                    f"[{first_slug[slug]}] already uses it; slugs must be unique within a course",
                )
            else:
                first_slug[slug] = index
        if env.get("default") is True:
            if first_default is None:
                first_default = index
            else:
                add(
                    "environments",
                    index,
                    "default",
                    message=f"environments[{first_default}] is already the default; "
                    "at most one environment may have default: true",
                )

    first_student: dict[str, int] = {}
    for index, username in items("students"):
        if isinstance(username, str):
            if username in first_student:
                add(
                    "students",
                    index,
                    message=f"{username!r} is listed twice (also students"
                    f"[{first_student[username]}])",
                )
            else:
                first_student[username] = index

    staff = course.get("staff")
    if isinstance(staff, Mapping):
        for group in ("instructors", "tas"):
            members = staff.get(group)
            if not isinstance(members, list):
                continue
            for index, username in enumerate(members):
                if isinstance(username, str) and username in first_student:
                    add(
                        "staff",
                        group,
                        index,
                        message=f"user {username!r} is listed both as staff ({group}) and as "
                        "a student; a user has one role in a course, so remove them from one "
                        "of the lists",
                    )

    first_assignment: dict[str, int] = {}
    for index, assignment in items("assignments"):
        name = assignment.get("name") if isinstance(assignment, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in first_assignment:
            add(
                "assignments",
                index,
                "name",
                message=f"assignments[{first_assignment[name]}] is already called {name!r}; "
                "assignment names must be unique within a course",
            )
        else:
            first_assignment[name] = index
        grading = assignment.get("grading")
        wanted = grading.get("environment") if isinstance(grading, Mapping) else None
        if isinstance(wanted, str) and first_slug and wanted not in first_slug:
            add(
                "assignments",
                index,
                "grading",
                "environment",
                message=f"no environment {wanted!r} in this course (it has: "
                f"{', '.join(sorted(first_slug))})",
            )

    emails = course.get("emails")
    if isinstance(emails, Mapping):
        members = set(first_student)
        if isinstance(staff, Mapping):
            for group in ("instructors", "tas"):
                if isinstance(staff.get(group), list):
                    members.update(name for name in staff[group] if isinstance(name, str))
        owner_of: dict[str, str] = {}
        for username, address in emails.items():
            if not isinstance(username, str) or not isinstance(address, str):
                continue
            if username not in members and re.fullmatch(USERNAME_PATTERN, username):
                add(
                    "emails",
                    username,
                    message=f"{username!r} is not one of this course's staff or students; "
                    "emails gives the address of the course's own members",
                )
            key = address.lower()
            if key in owner_of:
                add(
                    "emails",
                    username,
                    message=f"{address!r} is also the address of {owner_of[key]!r}; one "
                    "address proves one person's username",
                )
            else:
                owner_of[key] = username

    lti = course.get("lti")
    contexts = lti.get("context_ids") if isinstance(lti, Mapping) else None
    if isinstance(contexts, list):
        first_context: dict[str, int] = {}
        for index, context in enumerate(contexts):
            if not isinstance(context, str):
                continue
            if context in first_context:
                add(
                    "lti",
                    "context_ids",
                    index,
                    message=f"{context!r} is listed twice (also lti.context_ids"
                    f"[{first_context[context]}])",
                )
            else:
                first_context[context] = index

    for field in ("name", "mount_path"):
        first_shared: dict[str, int] = {}
        for index, shared in items("shared_data"):
            value = shared.get(field) if isinstance(shared, Mapping) else None
            if not isinstance(value, str):
                continue
            if value in first_shared:
                add(
                    "shared_data",
                    index,
                    field,
                    message=f"shared_data[{first_shared[value]}] already uses {field} {value!r}",
                )
            else:
                first_shared[value] = index
    return issues


def profile_slug(course: Course, environment: Environment) -> str:
    """The KubeSpawner profile slug for an environment, e.g. ``ai-101-gpu``."""
    return f"{course.id}-{environment.slug}"
