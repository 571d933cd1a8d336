"""A course's nbgrader folder on the service side, and the nbgrader commands run in it.

``<data>/workspaces/<course>/`` is an ordinary nbgrader course directory: ``source/``
(seeded from the catalog's ``courses/<id>/source/``), ``release/``, ``submitted/``,
``autograded/``, ``feedback/`` and an ``nbgrader_config.py`` the service writes, so the
course's formgrader (the ``grader-<course>`` service) and the service agree on the folder,
the course id and the gradebook. nbgrader runs as a subprocess per command (its apps keep
global state), with a plain environment: no hub token reaches student code.

The gradebook is SQL per course: a SQLite file in the folder, or, when the service runs on
PostgreSQL, a schema ``gradebook_<course>`` in the service's database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from coursehub.exchange.archive import ArchiveError, extract_stored_archive
from coursehub.formgrader.execution import nbgrader_config_lines as execution_config
from coursehub.grading.feedback import nbgrader_config_lines as feedback_config

# nbgrader's own timestamp format (Exchange.timestamp_format), in UTC.
NBGRADER_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f %Z"
EXCHANGE_CLASSES = "coursehub.exchange"
ENV_KEPT = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")


class WorkspaceError(RuntimeError):
    """An nbgrader command failed; the message quotes the end of its output."""


class SubmissionWriteError(RuntimeError):
    """A stored submission cannot be laid out in the course folder. The message says why
    in plain words, with paths relative to the submission (never the service's own)."""


def gradebook_url(service_db_url: str, course_id: str, folder: Path) -> str:
    """The course's gradebook: a schema in the service's PostgreSQL, else a SQLite file."""
    if service_db_url.startswith(("postgresql", "postgres")):
        parsed = urlparse(service_db_url)
        query = dict(parse_qsl(parsed.query))
        query["options"] = f"-csearch_path={gradebook_schema(course_id)}"
        return urlunparse(parsed._replace(query=urlencode(query)))
    return f"sqlite:///{folder / 'gradebook.db'}"


def gradebook_schema(course_id: str) -> str:
    return "gradebook_" + course_id.replace("-", "_")


def nbgrader_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(NBGRADER_TIMESTAMP)


@dataclass
class CommandResult:
    returncode: int
    output: str


def prepare_course_workspaces(
    data_dir: Path, courses_dir: Path, service_db_url: str, course_ids
) -> dict[str, Workspace]:
    """Lay out each course's folder (``Workspace.prepare``, seeded from the catalog's
    ``<courses_dir>/<id>/source/``) before anything runs in it: the one preparation
    ``coursehub dev`` does before its hub starts the formgraders and the chart's
    ``prepare-workspaces`` init container does before the service's pod starts them."""
    workspaces = {}
    for course_id in sorted(course_ids):
        workspace = Workspace(data_dir, course_id, service_db_url)
        workspace.prepare(Path(courses_dir) / course_id / "source")
        workspaces[course_id] = workspace
    return workspaces


class Workspace:
    def __init__(self, data_dir: Path, course_id: str, service_db_url: str):
        self.course_id = course_id
        self.root = Path(data_dir) / "workspaces" / course_id
        self.db_url = gradebook_url(service_db_url, course_id, self.root)

    # ----- folder ----------------------------------------------------------------------

    def prepare(self, catalog_source: Path | None) -> None:
        """Create the folder and its config; copy assignments from the catalog's
        ``source/`` that the folder does not have yet (work done in JupyterLab wins)."""
        for name in ("source", "release", "submitted", "autograded", "feedback"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        if catalog_source is not None and catalog_source.is_dir():
            for assignment in sorted(catalog_source.iterdir()):
                target = self.root / "source" / assignment.name
                if assignment.is_dir() and not target.exists():
                    shutil.copytree(assignment, target)
        self._ensure_schema()
        (self.root / "nbgrader_config.py").write_text(self.config_text())

    def config_text(self) -> str:
        return (
            '"""Written by the coursehub service; edits are overwritten."""\n'
            f"c.CourseDirectory.root = {str(self.root)!r}\n"
            f"c.CourseDirectory.course_id = {self.course_id!r}\n"
            f"c.CourseDirectory.db_url = {self.db_url!r}\n"
            "c.Exchange.timezone = 'UTC'\n"
            f"c.ExchangeFactory.exchange = '{EXCHANGE_CLASSES}.CoursehubExchange'\n"
            f"c.ExchangeFactory.release_assignment = "
            f"'{EXCHANGE_CLASSES}.CoursehubReleaseAssignment'\n"
            f"c.ExchangeFactory.release_feedback = '{EXCHANGE_CLASSES}.CoursehubReleaseFeedback'\n"
            f"c.ExchangeFactory.collect = '{EXCHANGE_CLASSES}.CoursehubCollect'\n"
            f"c.ExchangeFactory.list = '{EXCHANGE_CLASSES}.CoursehubList'\n"
            + feedback_config()
            + execution_config()
        )

    def _ensure_schema(self) -> None:
        if not self.db_url.startswith(("postgresql", "postgres")):
            return
        from sqlalchemy import create_engine, text

        base = urlparse(self.db_url)
        query = {k: v for k, v in parse_qsl(base.query) if k != "options"}
        engine = create_engine(urlunparse(base._replace(query=urlencode(query))))
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(f'CREATE SCHEMA IF NOT EXISTS "{gradebook_schema(self.course_id)}"')
                )
        finally:
            engine.dispose()

    def source_exists(self, assignment: str) -> bool:
        return (self.root / "source" / assignment).is_dir()

    def release_folder(self, assignment: str) -> Path:
        return self.root / "release" / assignment

    def feedback_folder(self, student: str, assignment: str) -> Path:
        return self.root / "feedback" / student / assignment

    def write_submission(
        self, student: str, assignment: str, data: bytes, submitted_at: datetime
    ) -> None:
        """Put one collected submission (an archive from the blob store, checked when it was
        uploaded) where nbgrader expects it, replacing an older one. On failure
        (``SubmissionWriteError``) the older one is left as it was."""
        folder = self.root / "submitted" / student / assignment
        staging = folder.with_name(f".{assignment}.incoming")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            extract_stored_archive(data, staging)
            (staging / "timestamp.txt").write_text(nbgrader_timestamp(submitted_at))
        except (ArchiveError, OSError) as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise SubmissionWriteError(_plain_reason(error, staging)) from error
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)

    # ----- gradebook -------------------------------------------------------------------

    def set_assignment(
        self,
        assignment: str,
        due: datetime | None,
        students: list[str] = (),
        extensions: dict[str, timedelta | None] | None = None,
    ) -> None:
        """Record the assignment's due date (and the course's students) in the gradebook,
        in one session: each opening of nbgrader's gradebook runs an ``alembic`` command.
        ``extensions``: per student, how much later their due date is (None: not moved);
        nbgrader's submission ``extension`` holds it, so its ``duedate`` and late penalty
        follow. Students with a submission row and no extension get theirs cleared."""
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.db_url) as gradebook:
            gradebook.update_or_create_assignment(assignment, duedate=due)
            for student in students:
                gradebook.update_or_create_student(student)
            for student, extension in (extensions or {}).items():
                if extension is not None:
                    gradebook.update_or_create_submission(assignment, student, extension=extension)
                    continue
                try:
                    submission = gradebook.find_submission(assignment, student)
                except MissingEntry:
                    continue
                if submission.extension is not None:
                    submission.extension = None
                    gradebook.db.commit()

    def grades(self, assignment: str | None) -> list[dict]:
        """Score per student and assignment, from the gradebook."""
        from nbgrader.api import Gradebook, MissingEntry

        rows = []
        with Gradebook(self.db_url) as gradebook:
            assignments = (
                [gradebook.find_assignment(assignment)]
                if assignment
                else sorted(gradebook.assignments, key=lambda item: item.name)
            )
            for graded in assignments:
                for student in sorted(gradebook.students, key=lambda item: item.id):
                    try:
                        record = gradebook.find_submission(graded.name, student.id)
                    except MissingEntry:
                        continue
                    rows.append(
                        {
                            "student": student.id,
                            "assignment": graded.name,
                            "score": record.score,
                            "max_score": record.max_score,
                        }
                    )
        return rows

    # ----- nbgrader commands -----------------------------------------------------------

    async def nbgrader(self, *args: str, timeout: float = 900) -> CommandResult:
        env = {name: os.environ[name] for name in ENV_KEPT if name in os.environ}
        # nbgrader runs the `alembic` command of its own environment for the gradebook.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            # -P: the course folder (the working folder) is not on sys.path, so no file in it
            # can stand in for a module nbgrader imports.
            "-P",
            "-m",
            "nbgrader",
            *args,
            cwd=self.root,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise WorkspaceError(f"nbgrader {args[0]} took longer than {timeout:.0f} s") from None
        return CommandResult(process.returncode, output.decode(errors="replace"))

    async def generate(self, assignment: str) -> Path:
        result = await self.nbgrader("generate_assignment", assignment, "--force")
        folder = self.release_folder(assignment)
        if result.returncode != 0 or not folder.is_dir():
            raise WorkspaceError(_failure("generate_assignment", assignment, result))
        return folder

    async def generate_feedback(self, assignment: str) -> None:
        result = await self.nbgrader("generate_feedback", assignment, "--force")
        if result.returncode != 0:
            raise WorkspaceError(_failure("generate_feedback", assignment, result))


def _plain_reason(error: ArchiveError | OSError, folder: Path) -> str:
    """``Is a directory: timestamp.txt`` rather than a traceback's absolute paths."""
    if isinstance(error, ArchiveError):
        return str(error)
    name = error.filename
    if name is not None:
        try:
            name = Path(name).relative_to(folder).as_posix()
        except ValueError:
            name = Path(name).name
    reason = error.strerror or type(error).__name__
    return f"{reason}: {name}" if name else reason


def _failure(command: str, assignment: str, result: CommandResult) -> str:
    tail = "\n".join(result.output.strip().splitlines()[-12:])
    return f"nbgrader {command} {assignment} failed (exit {result.returncode}):\n{tail}"
