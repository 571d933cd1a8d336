"""nbgrader exchange classes that talk to the coursehub service instead of a shared folder.

nbgrader picks them through ``ExchangeFactory`` (see ``jupyter_config/nbgrader_config.py``),
so its JupyterLab "Assignments" panel, its formgrader buttons and its CLI work unchanged.
What changes is where decisions are made: the service identifies the caller from the hub
token, stamps submissions with its own clock and decides who may see what. These classes
never send a student id or a time; they move archives and lay files out the way nbgrader's
default exchange does, so the rest of nbgrader (and students' habits) stay the same.
"""

from __future__ import annotations

import glob
import hashlib
import shutil
from datetime import datetime
from pathlib import Path

from nbgrader.exchange.abc import (
    Exchange,
    ExchangeCollect,
    ExchangeFetchAssignment,
    ExchangeFetchFeedback,
    ExchangeList,
    ExchangeReleaseAssignment,
    ExchangeReleaseFeedback,
    ExchangeSubmit,
)
from traitlets import Bool

from coursehub.exchange.archive import ArchiveError, FileEntry, content_checksum, extract_archive
from coursehub.exchange.archive import pack_directory as _pack
from coursehub.exchange.client import ServiceClient, ServiceError

NBGRADER_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f %Z"


def nbgrader_time(iso: str) -> str:
    """The service's ISO time in nbgrader's timestamp format (UTC)."""
    return datetime.fromisoformat(iso).strftime(NBGRADER_TIMESTAMP)


def notebook_ids(paths: list[str]) -> list[str]:
    return sorted(Path(p).stem for p in paths if "/" not in p and p.endswith(".ipynb"))


def local_checksum(folder: Path) -> str | None:
    """The service's whole-archive checksum of the files in ``folder``, or None."""
    if not folder.is_dir():
        return None
    entries = [
        FileEntry(
            path.relative_to(folder).as_posix(), 0, hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    ]
    return content_checksum(entries) if entries else None


class CoursehubExchange(Exchange):
    """Shared plumbing: the service client, course ids, the student's local folders."""

    path_includes_course = Bool(
        False,
        help="Put fetched assignments in <course>/<assignment> rather than <assignment> "
        "(as nbgrader's default exchange option of the same name).",
    ).tag(config=True)

    _client: ServiceClient | None = None

    @property
    def client(self) -> ServiceClient:
        if self._client is None:
            try:
                self._client = ServiceClient.from_environ()
            except ServiceError as error:
                self.fail(error.message)
        return self._client

    def call(self, function, *args, **kwargs):
        """Run a client call, turning the service's refusal into nbgrader's ExchangeError."""
        try:
            return function(*args, **kwargs)
        except ServiceError as error:
            self.fail(error.message)
        except ArchiveError as error:
            self.fail(str(error))

    def courses(self, role: str | None = None) -> list[str]:
        if self.coursedir and self.coursedir.course_id:
            return [self.coursedir.course_id]
        me = self.call(self.client.me)
        return [c["id"] for c in me["courses"] if role is None or c["role"] == role]

    def require_course(self) -> str:
        if not self.coursedir.course_id:
            self.fail("No course id given: pass --course=<id> (e.g. --course=ai-101)")
        return self.coursedir.course_id

    def assignment_dir_for(self, course: str, assignment: str) -> Path:
        base = Path(self.assignment_dir)
        return base / course / assignment if self.path_includes_course else base / assignment

    # The abc's start() calls these; each subclass does its work in copy_files().
    def init_src(self):
        pass

    def init_dest(self):
        pass


class CoursehubList(ExchangeList, CoursehubExchange):
    def copy_files(self):
        pass  # listing moves no files

    def list_files(self):
        if self.inbound:
            return self._inbound()
        if self.cached:
            return self._submitted()
        return self._released()

    def remove_files(self):
        course = self.require_course()
        assignment = self.coursedir.assignment_id
        if not assignment:
            self.fail("Name the assignment to withdraw: nbgrader list --remove --assignment=<name>")
        self.call(self.client.withdraw, course, assignment)
        self.log.info("Withdrew %s %s", course, assignment)
        return [{"course_id": course, "assignment_id": assignment, "status": "removed"}]

    def _wanted(self, name: str) -> bool:
        return not self.coursedir.assignment_id or self.coursedir.assignment_id == name

    def _released(self) -> list[dict]:
        found = []
        for course in self.courses():
            for item in self.call(self.client.assignments, course)["assignments"]:
                if not self._wanted(item["name"]):
                    continue
                local = self.assignment_dir_for(course, item["name"])
                info = {"course_id": course, "assignment_id": item["name"]}
                if local.is_dir():
                    info["status"] = "fetched"
                    info["path"] = str(local.resolve())
                    info["notebooks"] = [
                        {"notebook_id": nb.stem, "path": str(nb.resolve())}
                        for nb in sorted(local.glob("*.ipynb"))
                    ]
                else:
                    info["status"] = "released"
                    info["path"] = ""
                    info["notebooks"] = [
                        {"notebook_id": name, "path": f"{name}.ipynb"}
                        for name in notebook_ids(item["paths"])
                    ]
                self.log.info(
                    "%s %s%s",
                    course,
                    item["name"],
                    " (already downloaded)" if local.is_dir() else "",
                )
                found.append(info)
        return found

    def _submitted(self) -> list[dict]:
        """The caller's own submissions, shaped like the default exchange's cached list."""
        grouped = []
        me = self.call(self.client.me)["name"]
        for course in self.courses():
            for item in self.call(self.client.assignments, course)["assignments"]:
                if not self._wanted(item["name"]) or not item["submissions"]:
                    continue
                local = self.assignment_dir_for(course, item["name"])
                feedback = {row["version"]: row for row in item["feedback"]}
                submissions = [
                    self._submission_info(course, item["name"], me, row, feedback, local)
                    for row in item["submissions"]
                ]
                grouped.append(
                    {
                        "course_id": course,
                        "student_id": me,
                        "assignment_id": item["name"],
                        "status": "submitted",
                        "submissions": sorted(submissions, key=lambda s: s["timestamp"]),
                    }
                )
        return grouped

    def _submission_info(self, course, assignment, student, row, feedback, local: Path) -> dict:
        timestamp = nbgrader_time(row["submitted_at"])
        feedback_dir = local / "feedback" / timestamp
        given = feedback.get(row["version"])
        notebooks = []
        for name in notebook_ids(row["paths"]):
            local_path = feedback_dir / f"{name}.html"
            notebooks.append(
                {
                    "notebook_id": name,
                    "path": f"{name}.ipynb",
                    "has_local_feedback": local_path.is_file(),
                    "has_exchange_feedback": given is not None,
                    "local_feedback_path": str(local_path) if local_path.is_file() else None,
                    "feedback_updated": False,
                }
            )
        has_local = bool(notebooks) and all(nb["has_local_feedback"] for nb in notebooks)
        updated = bool(given and has_local and local_checksum(feedback_dir) != given["checksum"])
        for nb in notebooks:
            nb["feedback_updated"] = updated
        return {
            "course_id": course,
            "student_id": student,
            "assignment_id": assignment,
            "timestamp": timestamp,
            "status": "submitted",
            "path": str(local),
            "notebooks": notebooks,
            "has_local_feedback": has_local,
            "has_exchange_feedback": given is not None,
            "feedback_updated": updated,
            "local_feedback_path": str(feedback_dir) if has_local else None,
        }

    def _inbound(self) -> list[dict]:
        """Staff: every submission version of the course's assignments."""
        grouped = []
        for course in self.courses(role="staff"):
            for item in self.call(self.client.assignments, course)["assignments"]:
                if not self._wanted(item["name"]):
                    continue
                by_student: dict[str, list[dict]] = {}
                for row in self.call(self.client.submissions, course, item["name"]):
                    by_student.setdefault(row["student"], []).append(
                        {
                            "course_id": course,
                            "student_id": row["student"],
                            "assignment_id": item["name"],
                            "timestamp": nbgrader_time(row["submitted_at"]),
                            "status": "submitted",
                            "path": "",
                            "notebooks": [],
                        }
                    )
                for student, rows in sorted(by_student.items()):
                    grouped.append(
                        {
                            "course_id": course,
                            "student_id": student,
                            "assignment_id": item["name"],
                            "status": "submitted",
                            "submissions": rows,
                        }
                    )
        return grouped


class CoursehubFetchAssignment(ExchangeFetchAssignment, CoursehubExchange):
    def copy_files(self):
        course = self.require_course()
        assignment = self.coursedir.assignment_id
        dest = self.assignment_dir_for(course, assignment)
        if dest.exists() and not self.replace_missing_files:
            self.fail(
                f"You already have a copy of {assignment} in {dest}: rename or delete it to fetch "
                "a fresh copy (your work there is kept as it is)"
            )
        data = self.call(self.client.fetch_release, course, assignment)
        staging = dest.with_name(f".{dest.name}.fetching")
        shutil.rmtree(staging, ignore_errors=True)
        self.call(extract_archive, data, staging)
        if dest.exists():  # replace_missing_files: add what is missing, keep the rest
            for path in sorted(staging.rglob("*")):
                target = dest / path.relative_to(staging)
                if path.is_file() and not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
            shutil.rmtree(staging)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(dest)
        self.log.info("Fetched as: %s %s", course, assignment)


class CoursehubSubmit(ExchangeSubmit, CoursehubExchange):
    def copy_files(self):
        course = self.require_course()
        assignment = self.coursedir.assignment_id
        src = self.assignment_dir_for(course, assignment)
        if not src.is_dir():
            self.fail(f"Assignment not found: {src} (fetch {assignment} first)")
        release = next(
            (
                item
                for item in self.call(self.client.assignments, course)["assignments"]
                if item["name"] == assignment
            ),
            None,
        )
        if release is None:
            self.fail(f"{assignment} is not released in {course}")
        self._check_notebooks(src, notebook_ids(release["paths"]))
        max_bytes = (
            int(self.coursedir.max_file_size) * 1024 if self.coursedir.max_file_size else None
        )
        data = _pack(src, ignore=self.coursedir.ignore, max_file_bytes=max_bytes)
        receipt = self.call(self.client.submit, course, assignment, data)
        self.timestamp = nbgrader_time(receipt["submitted_at"])
        late = " (after the due date)" if receipt["late"] else ""
        self.log.info(
            "Submitted as: %s %s %s, version %d%s",
            course,
            assignment,
            self.timestamp,
            receipt["version"],
            late,
        )

    def _check_notebooks(self, src: Path, released: list[str]) -> None:
        local = {nb.stem for nb in src.glob("*.ipynb")}
        missing = sorted(set(released) - local)
        extra = sorted(local - set(released))
        if missing:
            message = f"Your submission of {src.name} lacks notebook(s) {', '.join(missing)}"
            if self.strict:
                self.fail(message + "; not submitted (strict mode)")
            self.log.warning(message)
        if extra:
            self.log.warning("Extra notebook(s) that are not graded: %s", ", ".join(extra))


class CoursehubFetchFeedback(ExchangeFetchFeedback, CoursehubExchange):
    def copy_files(self):
        course = self.require_course()
        assignment = self.coursedir.assignment_id
        local = self.assignment_dir_for(course, assignment)
        entries = self.call(self.client.feedback_list, course, assignment)
        if not entries:
            self.log.warning("No feedback available for %s %s yet", course, assignment)
            return
        for entry in entries:
            folder = local / "feedback" / nbgrader_time(entry["submitted_at"])
            data = self.call(
                self.client.feedback, course, assignment, entry["student"], entry["version"]
            )
            shutil.rmtree(folder, ignore_errors=True)
            self.call(extract_archive, data, folder)
            self.log.info("Fetched feedback for version %d into %s", entry["version"], folder)


class CoursehubReleaseAssignment(ExchangeReleaseAssignment, CoursehubExchange):
    def copy_files(self):
        course = self.require_course()
        assignment = self.coursedir.assignment_id
        src = Path(self.coursedir.format_path(self.coursedir.release_directory, ".", assignment))
        if not src.is_dir():
            self.fail(f"Assignment not found: {src} (generate it first)")
        body = self.call(self.client.release, course, assignment, _pack(src))
        self.log.info("Released as: %s %s (%d files)", course, assignment, body["files"])


class CoursehubReleaseFeedback(ExchangeReleaseFeedback, CoursehubExchange):
    def copy_files(self):
        course = self.require_course()
        assignment = self.coursedir.assignment_id
        student_id = self.coursedir.student_id or "*"
        pattern = self.coursedir.format_path(
            self.coursedir.feedback_directory, student_id, assignment
        )
        released = 0
        for folder in sorted(Path(p) for p in glob.glob(pattern)):
            student = folder.parent.name
            stamp_file = folder / "timestamp.txt"
            if not stamp_file.is_file():
                self.log.warning("No timestamp.txt in %s; skipping", folder)
                continue
            stamp = stamp_file.read_text().strip()
            versions = self.call(self.client.submissions, course, assignment, student)
            match = next((v for v in versions if nbgrader_time(v["submitted_at"]) == stamp), None)
            if match is None:
                self.log.warning(
                    "No submission of %s at %s on the service; skipping", student, stamp
                )
                continue
            data = _pack(folder, ignore=["timestamp.txt"])
            self.call(
                self.client.give_feedback, course, assignment, student, match["version"], data
            )
            released += 1
            self.log.info("Released feedback for %s version %d", student, match["version"])
        if not released:
            self.log.warning("No feedback to release for %s %s", course, assignment)


class CoursehubCollect(ExchangeCollect, CoursehubExchange):
    def copy_files(self):
        course = self.require_course()
        assignment = self.coursedir.assignment_id
        chosen = self.call(self.client.submissions, course, assignment, None, True)
        wanted = self.coursedir.student_id
        for row in chosen:
            student = row["student"]
            if wanted and wanted != "*" and student != wanted:
                continue
            dest = Path(
                self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
            )
            stamp = nbgrader_time(row["submitted_at"])
            stamp_file = dest / "timestamp.txt"
            if dest.exists() and not self.update:
                self.log.info("Skipping %s: already collected (use --update)", student)
                continue
            if stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
                self.log.info("Skipping %s: the collected version is the latest", student)
                continue
            data = self.call(self.client.submission, course, assignment, student, row["version"])
            staging = dest.with_name(f".{dest.name}.collecting")
            shutil.rmtree(staging, ignore_errors=True)
            self.call(extract_archive, data, staging)
            (staging / "timestamp.txt").write_text(stamp)
            shutil.rmtree(dest, ignore_errors=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(dest)
            self.log.info(
                "Collected %s version %d%s",
                student,
                row["version"],
                " (late)" if row["late"] else "",
            )
