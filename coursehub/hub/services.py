"""The JupyterHub services coursehub adds: the coursehub service and a formgrader per course.

Pure builders of ``c.JupyterHub.services`` entries and the pods' environment; ``configure``
calls them.

- ``coursehub``: the assignment exchange and gradebooks. In dev the hub runs it as a
  managed service (a subprocess it restarts if it dies); in production it is an external
  service in its own Deployment, known to the hub by URL and API token. It also serves the
  GPU usage page (``/services/coursehub/usage``), so it is listed in the hub's Services
  menu as "GPU usage" (``info.display_name``; coursehub's ``page.html`` shows it to admins
  and course staff only), signs people in through the hub without a confirmation page, and
  every course member may open it (``service_users_role``): the service, not the hub,
  tells a student why the page is not for them.
- ``grader-<course>``: the course's formgrader, a ``jupyterhub-singleuser`` rooted in the
  course's nbgrader folder that the coursehub service keeps, configured by
  ``coursehub.formgrader`` to show and grade without running code. Only the course's staff may
  open it (``access:services!service=grader-<course>`` in their role). It is opened as its
  own page (``/services/grader-<course>/formgrader``): JupyterHub ≥ 4.1 forbids framing
  single-user servers (``frame-ancestors 'none'``, nbgrader #1870), and loosening that would
  let any student's server frame the formgrader, so coursehub keeps the header and avoids
  the iframe instead. Dev: a managed service the hub starts; production: a container of
  the coursehub service's pod (its course folder is on the service's volume), registered
  from the chart's formgrader Secret (docs/deploy.md, "The formgraders").
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from coursehub.catalog import Catalog
from coursehub.hub.settings import HubSettings
from coursehub.names import (
    GRADER_SERVICE_PREFIX,
    HUB_CLIENT_SERVICE,
    SERVICE_NAME,
    STAFF_SCOPE,
    grader_service_name,
    service_access_scope,
    staff_group,
    students_group,
)

SERVICE_PREFIX = f"/services/{SERVICE_NAME}"
# Dev: managed services stop when the hub process dies, however it dies.
DIE_WITH_HUB = [sys.executable, "-m", "coursehub.dev.die_with_parent"]
EXCHANGE_CONFIG_DIR = Path(__file__).resolve().parent.parent / "exchange" / "jupyter_config"
NOTICES_DATA_DIR = Path(__file__).resolve().parent.parent / "notices" / "data"
DUEDATES_DATA_DIR = Path(__file__).resolve().parent.parent / "duedates" / "data"


def service_api_url(settings: HubSettings) -> str:
    """The service's API as pods and the hub reach it (no proxy in between)."""
    return f"{settings.service_url}{SERVICE_PREFIX}"


# How the hub lists and signs people into the coursehub service (its browser pages).
SERVICE_PAGES = {
    "display": True,
    "oauth_no_confirm": True,
    "info": {"display_name": "GPU usage", "menu": "staff"},
}


def coursehub_service(settings: HubSettings) -> dict | None:
    if settings.is_dev:
        return {
            "name": SERVICE_NAME,
            **SERVICE_PAGES,
            "url": settings.service_url,
            "command": [*DIE_WITH_HUB, sys.executable, "-m", "coursehub", "service"],
            "environment": {
                "COURSEHUB_MODE": "dev",
                "COURSEHUB_COURSES_DIR": str(settings.courses_dir),
                "COURSEHUB_SERVICE_DATA_DIR": str(settings.service_data_dir),
                **(
                    {"COURSEHUB_SERVICE_DB_URL": settings.service_db_url}
                    if settings.service_db_url
                    else {}
                ),
                **dict(settings.service_limits),
                **grading_environment(settings),
                "PYTHONUNBUFFERED": "1",
            },
        }
    if settings.service_api_token:
        return {
            "name": SERVICE_NAME,
            **SERVICE_PAGES,
            "url": settings.service_url,
            "api_token": settings.service_api_token,
        }
    return None


# What the coursehub service may do through the hub API: read users and their activity
# (GPU idle culling, usage), stop servers (GPU budgets and session limits, dropped
# students), and keep course groups and their users in step with the catalog.
SERVICE_SCOPES = [
    "list:users",
    "read:users",
    "read:users:activity",
    "read:servers",
    "servers",
    "admin:users",
    "admin:groups",
]


def service_role() -> dict:
    return {
        "name": "coursehub-service",
        "description": "The coursehub service: GPU enforcement, usage and course groups",
        "scopes": list(SERVICE_SCOPES),
        "services": [SERVICE_NAME],
    }


def service_users_role(catalog: Catalog) -> dict:
    """Every course member may sign in to the coursehub service's pages (admins may
    anyway); what each sees is the service's decision. Like the staff roles, it follows
    the catalog's courses as of the hub's start."""
    groups = []
    for course_id in sorted(catalog.courses):
        groups += [staff_group(course_id), students_group(course_id)]
    return {
        "name": "coursehub-service-users",
        "description": "Course members: sign in to the coursehub service's pages (GPU usage)",
        "scopes": [f"access:services!service={SERVICE_NAME}"],
        "groups": groups,
    }


def hub_client(token: str) -> tuple[dict, dict]:
    """The service entry and role of the hub's own identity towards the coursehub
    service: one token, allowed to call that service and nothing else."""
    service = {"name": HUB_CLIENT_SERVICE, "api_token": token, "display": False}
    role = {
        "name": HUB_CLIENT_SERVICE,
        "description": "The hub process calling the coursehub service (GPU admission)",
        "scopes": [f"access:services!service={SERVICE_NAME}"],
        "services": [HUB_CLIENT_SERVICE],
    }
    return service, role


def grader_role(services: list[dict]) -> list[dict]:
    """The role of the courses' formgraders (``grader-<course>`` services): their tokens call
    the coursehub service as their course's staff (the service checks the course). Empty
    without formgraders."""
    names = sorted(
        entry["name"] for entry in services if entry["name"].startswith(GRADER_SERVICE_PREFIX)
    )
    if not names:
        return []
    return [
        {
            "name": "coursehub-graders",
            "description": "Formgraders: the coursehub service's staff actions of their course",
            "scopes": [service_access_scope(SERVICE_NAME), STAFF_SCOPE],
            "services": names,
        }
    ]


def grading_environment(settings: HubSettings) -> dict[str, str]:
    """Dev: the service runs grading pods in the dev cluster, whose pods share this machine,
    so student code must not see the state folder (tokens, gradebooks) or the catalog
    (solutions); the sandbox masks both."""
    environment = {
        # Grading pods fetch their batches there; the dev cluster's policy allows that port.
        "COURSEHUB_GRADING_SERVICE_URL": service_api_url(settings),
        "COURSEHUB_GRADING_MASKED_PATHS": os.pathsep.join(
            str(path)
            for path in (settings.state_dir, settings.courses_dir, settings.service_data_dir)
            if path is not None
        ),
    }
    if settings.kubeconfig is not None:
        environment["KUBECONFIG"] = str(settings.kubeconfig)
    if settings.namespace:
        environment["COURSEHUB_NAMESPACE"] = settings.namespace
    return environment


def grader_entry(course_id: str, url: str) -> dict:
    """What every ``grader-<course>`` entry holds, managed (dev) or external (production):
    listed in the Services menu under its course, signed in without a confirmation page."""
    return {
        "name": grader_service_name(course_id),
        "display": True,
        "info": {"course": course_id, "kind": "formgrader"},
        "url": url,
        "oauth_no_confirm": True,
    }


def formgrader_serve_command(course_id: str, workspace: Path, jupyter_dir: Path) -> list[str]:
    """``coursehub formgrader serve``: how a formgrader starts in dev and in the chart's
    containers (``coursehub.cli.formgrader``; the chart writes the same arguments)."""
    return [
        "coursehub",
        "formgrader",
        "serve",
        course_id,
        f"--workspace={workspace}",
        f"--jupyter-dir={jupyter_dir}",
    ]


def grader_services(
    settings: HubSettings,
    catalog: Catalog,
    ports: dict[str, int],
    registry: dict[str, tuple[str, str]] | None = None,
) -> list[dict]:
    """One formgrader per course.

    Dev: managed services listening on ``ports[course id]``, started with
    ``coursehub formgrader serve`` in the course's folder (``coursehub.formgrader``: no
    kernels, no terminals, no Autograde, reach limited to the course's sources and
    releases), Jupyter's own files in ``<state>/formgraders/<course>/``.

    Production: external services from ``registry`` (course id -> (url, API token), what
    the chart's formgrader Secret says: ``coursehub.hub.formgrader_registry``), for the
    courses of the catalog; the chart runs them in the coursehub service's pod."""
    if registry is not None:
        return [
            {**grader_entry(course_id, url), "api_token": token}
            for course_id, (url, token) in sorted(registry.items())
            if course_id in catalog.courses
        ]
    if not settings.is_dev:
        return []
    services = []
    host = settings.service_url.split("//", 1)[1].rsplit(":", 1)[0]
    for course_id in sorted(catalog.courses):
        folder = settings.service_data_dir / "workspaces" / course_id
        own_folder = settings.state_dir / "formgraders" / course_id
        serve = formgrader_serve_command(course_id, folder, own_folder)
        services.append(
            {
                **grader_entry(course_id, f"http://{host}:{ports[course_id]}"),
                "command": [*DIE_WITH_HUB, sys.executable, "-m", *serve],
                "environment": {
                    "COURSEHUB_SERVICE_URL": service_api_url(settings),
                    "PYTHONUNBUFFERED": "1",
                },
            }
        )
    return services


def pod_environment(settings: HubSettings) -> dict[str, str]:
    """What every notebook pod needs to reach the exchange (the plugin reads these)."""
    environment = {
        "COURSEHUB_SERVICE_URL": service_api_url(settings),
        # The notices extension's GPU telemetry (coursehub.notices.telemetry).
        "COURSEHUB_GPU_TELEMETRY_SECONDS": f"{settings.gpu_telemetry_seconds:g}",
    }
    if settings.is_dev:
        # Dev pods run this checkout's Python; images install the same files in /etc/jupyter
        # and the GPU-warnings and due-dates JupyterLab plugins in share/jupyter/labextensions.
        environment["JUPYTER_CONFIG_PATH"] = str(EXCHANGE_CONFIG_DIR)
        environment["JUPYTER_PATH"] = os.pathsep.join(
            str(folder) for folder in (NOTICES_DATA_DIR, DUEDATES_DATA_DIR)
        )
    return environment
