"""Names the hub, the coursehub service, grading pods and the GPU policy agree on.

Pure data and one-line functions, importing nothing of coursehub: the one place a service,
scope, group, role or node label is spelled, so neither process has to import the other
to learn it.
"""

from __future__ import annotations

# ----- JupyterHub services ------------------------------------------------------------

# The coursehub service (the assignment exchange, grading, GPU ledger and usage page).
SERVICE_NAME = "coursehub"
# The hub process's own identity towards the service (GPU admission, ledger, rosters).
HUB_CLIENT_SERVICE = "coursehub-hub"
GRADER_SERVICE_PREFIX = "grader-"


def grader_service_name(course_id: str) -> str:
    """The JupyterHub service that runs a course's formgrader; it acts as course staff."""
    return f"{GRADER_SERVICE_PREFIX}{course_id}"


# ----- scopes -------------------------------------------------------------------------

# Staff and admin actions in the service need this scope on the token (a JupyterHub custom
# scope the hub defines); server tokens and OAuth tokens issued to servers never carry it.
STAFF_SCOPE = "custom:coursehub:staff"


def service_access_scope(service_name: str) -> str:
    """The scope JupyterHub gives for calling a service: every token must carry it."""
    return f"access:services!service={service_name}"


# ----- groups and roles ---------------------------------------------------------------

# The hub's admins, as a group (kept by the service) and the role that group holds.
ADMINS_GROUP = "coursehub-admins"
ADMINS_ROLE = "coursehub-admins"


def students_group(course_id: str) -> str:
    return f"course-{course_id}-students"


def staff_group(course_id: str) -> str:
    return f"course-{course_id}-staff"


def reachable_group(course_id: str) -> str:
    """The course's students whose servers its staff may open, start and stop."""
    return f"course-{course_id}-reachable"


def staff_role(course_id: str) -> str:
    return f"course-{course_id}-staff"


# ----- GPU nodes ----------------------------------------------------------------------

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
# Set by the NVIDIA device plugin on nodes whose GPUs it time-slices (or shares with MPS):
# how many replicas of each physical GPU it advertises.
GPU_REPLICAS_LABEL = "nvidia.com/gpu.replicas"
# The taint GPU nodes carry (as in the NVIDIA GPU operator / managed GPU node pools).
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
# Where a cluster has a GPU default, a CPU pod must say "no GPU" explicitly (z2jh trap).
NO_GPU_LIMITS = {"nvidia.com/gpu": "0"}
