"""``coursehub formgrader``: a course's formgrader (``coursehub.formgrader``).

- ``serve COURSE --workspace DIR --jupyter-dir DIR``: run the course's formgrader
  (``jupyterhub-singleuser`` with coursehub's formgrader config) in its prepared course
  folder, under the hub's OAuth as the service ``grader-<course>`` (the ``JUPYTERHUB_*``
  variables the hub gives a managed service, or the chart's container sets). The dev hub
  and the Helm chart run this same command.
- ``prepare``: lay out every course's folder as the coursehub service keeps it, with the
  service's settings (``COURSEHUB_SERVICE_DATA_DIR``, ``COURSEHUB_COURSES_DIR``,
  ``COURSEHUB_SERVICE_DB_URL``): the chart's init container, before the formgraders start.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_parser(subcommands) -> None:
    formgrader = subcommands.add_parser(
        "formgrader", help="run a course's formgrader, or prepare the courses' folders"
    )
    actions = formgrader.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve", help="run COURSE's formgrader in its prepared course folder (replaces itself)"
    )
    serve.add_argument("course", help="the course id, e.g. ai-101")
    serve.add_argument(
        "--workspace",
        type=Path,
        required=True,
        help="the course's folder the coursehub service keeps (<data>/workspaces/<course>)",
    )
    serve.add_argument(
        "--jupyter-dir",
        type=Path,
        required=True,
        help="a folder of the formgrader's own, outside the course folder, for Jupyter's "
        "config, data and runtime files",
    )
    serve.set_defaults(func=serve_command)
    prepare = actions.add_parser(
        "prepare",
        help="lay out every course's folder, with the coursehub service's settings "
        "(COURSEHUB_SERVICE_* environment variables)",
    )
    prepare.set_defaults(func=prepare_command)


def serve_command(args: argparse.Namespace) -> int:
    from coursehub.formgrader.config import LaunchError, check_workspace, launch

    workspace = args.workspace.absolute()
    try:
        check_workspace(workspace)
    except LaunchError as error:
        print(f"coursehub formgrader serve {args.course}: {error}", file=sys.stderr)
        return 2
    started = launch(args.course, workspace, args.jupyter_dir.absolute(), os.geteuid() == 0)
    os.chdir(started.cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replaced, not wrapped: the hub (dev) or the kubelet signals the formgrader itself.
    os.execvpe(started.argv[0], started.argv, {**os.environ, **started.environment})
    return 1  # not reached


def prepare_command(args: argparse.Namespace) -> int:
    from coursehub.catalog import load_catalog
    from coursehub.service.settings import ServiceSettings
    from coursehub.service.workspace import prepare_course_workspaces

    settings = ServiceSettings.from_environ()
    courses = load_catalog(settings.courses_dir).courses
    prepared = prepare_course_workspaces(
        settings.data_dir, settings.courses_dir, settings.db_url, courses
    )
    for course_id, workspace in prepared.items():
        print(f"{course_id}: {workspace.root}")
    return 0
