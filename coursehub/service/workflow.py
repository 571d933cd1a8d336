"""What the service does for a request, beyond checking who asks: store bytes, record rows,
run nbgrader in the course's folder, and keep background jobs' progress.

Bytes go to the blob store before the row that names them is committed. A submission
retries its version number when a concurrent one took it (the database's unique constraint
decides), so simultaneous submissions are each stored exactly once.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coursehub.catalog.model import Assignment, Course, Grading
from coursehub.exchange.archive import Archive, pack_directory, read_archive
from coursehub.grading.dispatch import GradingRun, Progress
from coursehub.grading.nbgrader_steps import CourseFolder
from coursehub.service import exchange_db, extensions, lms_grades
from coursehub.service.context import ServiceContext
from coursehub.service.models import Feedback, Job, Release, Submission
from coursehub.service.rules import Caller, Refusal, is_late
from coursehub.service.workspace import SubmissionWriteError, Workspace

log = logging.getLogger("coursehub.service")
SUBMIT_ATTEMPTS = 8
REPORT_SECONDS = 0.5  # job progress is written at most this often while pods run


# ----- what the exchange's readers see ------------------------------------------------


async def assignment_list(context: ServiceContext, course: Course, student: str) -> list[dict]:
    """The course's current releases, each with ``student``'s fetch, submissions and
    feedback (``GET api/courses/<id>/assignments``)."""

    def work(session):
        listed = []
        for release in exchange_db.current_releases(session, course.id):
            base = context.due(course, release.assignment)
            dues = extensions.student_dues(session, course.id, release.assignment, base)
            due = dues.of(student)
            entry = exchange_db.release_json(
                release, context.title(course, release.assignment), due
            )
            # Only the asking student's own extension: ``dues`` knows everyone's.
            entry["extension"] = (
                {"course_due": exchange_db.iso(base), "due": exchange_db.iso(due)}
                if dues.extension_of(student) is not None
                else None
            )
            fetches = exchange_db.fetches(session, course.id, release.assignment)
            fetch = fetches.get(student)
            entry["fetched_at"] = exchange_db.iso(fetch.last_fetched_at) if fetch else None
            own = exchange_db.submissions(session, course.id, release.assignment, student)
            entry["submissions"] = [exchange_db.submission_json(row, due) for row in own]
            submitted = {row.version: row.submitted_at for row in own}
            entry["feedback"] = [
                exchange_db.feedback_json(row, submitted.get(row.version))
                for row in exchange_db.feedback(session, course.id, release.assignment, student)
            ]
            listed.append(entry)
        return listed

    return await context.db.run(work)


async def fetch_release(
    context: ServiceContext, course: Course, assignment: str, fetcher: str | None
) -> Release:
    """The assignment's current release (404 if none); a fetch by the student ``fetcher``
    is recorded (staff fetches are not: ``fetcher`` None)."""
    now = context.now()

    def work(session):
        release = exchange_db.current_release(session, course.id, assignment)
        if release is None:
            raise Refusal(404, f"{assignment} is not released in {course.id}")
        if fetcher is not None:
            exchange_db.record_fetch(session, course.id, assignment, fetcher, now)
        return release

    return await context.db.run(work)


async def submission_list(
    context: ServiceContext, course: Course, assignment: str, student: str | None, collect: bool
) -> list[dict]:
    """Submissions of the assignment (of ``student``, else everyone's); ``collect``: only
    the version collect would choose per student. Late is judged against each student's
    own due date (extensions included)."""
    base = context.due(course, assignment)

    def work(session):
        dues = extensions.student_dues(session, course.id, assignment, base)
        rows = exchange_db.submissions(session, course.id, assignment, student)
        if collect:
            rows = list(exchange_db.chosen_for_collection(rows, dues.of).values())
        return [exchange_db.submission_json(row, dues.of(row.student)) for row in rows]

    return await context.db.run(work)


async def feedback_list(
    context: ServiceContext, course: Course, assignment: str, student: str | None
) -> list[dict]:
    """Feedback released for the assignment (to ``student``, else to everyone)."""

    def work(session):
        submitted = {
            (row.student, row.version): row.submitted_at
            for row in exchange_db.submissions(session, course.id, assignment, student)
        }
        return [
            exchange_db.feedback_json(row, submitted.get((row.student, row.version)))
            for row in exchange_db.feedback(session, course.id, assignment, student)
        ]

    return await context.db.run(work)


async def feedback_of(
    context: ServiceContext, course: Course, assignment: str, student: str, version: int
) -> Feedback | None:
    """The feedback released for ``student``'s ``version``, or None."""

    def work(session):
        for row in exchange_db.feedback(session, course.id, assignment, student):
            if row.version == version:
                return row
        return None

    return await context.db.run(work)


# ----- what the exchange's writers do -------------------------------------------------


async def publish(
    context: ServiceContext, course: Course, assignment: str, archive: Archive, caller: Caller
) -> tuple[dict, int]:
    blob = await asyncio.to_thread(context.store.put, archive.data)
    now = context.now()

    def work(session):
        return exchange_db.publish_release(
            session, course.id, assignment, archive, blob, caller.name, now
        )

    release, created, replaced = await context.db.run(work)
    body = exchange_db.release_json(
        release, context.title(course, assignment), context.due(course, assignment)
    )
    body["replaced"] = replaced
    log.info("%s released %s/%s (%s)", caller, course.id, assignment, release.checksum)
    return body, 201 if created else 200


async def submit(
    context: ServiceContext, course: Course, assignment: str, archive: Archive, caller: Caller
) -> dict:
    blob = await asyncio.to_thread(context.store.put, archive.data)
    base = context.due(course, assignment)
    for _attempt in range(SUBMIT_ATTEMPTS):
        now = context.now()

        def work(session, now=now):
            if exchange_db.current_release(session, course.id, assignment) is None:
                raise Refusal(404, f"{assignment} is not released in {course.id}")
            row = exchange_db.add_submission(
                session, course.id, assignment, caller.name, archive, blob, now
            )
            due = extensions.student_dues(session, course.id, assignment, base).of(caller.name)
            return exchange_db.submission_json(row, due)

        try:
            body = await context.db.run(work)
        except IntegrityError:
            continue  # a concurrent submission took this version number
        log.info("%s submitted %s/%s version %d", caller, course.id, assignment, body["version"])
        return body
    raise Refusal(503, "too many simultaneous submissions from you; try again")


async def release_feedback(
    context: ServiceContext,
    course: Course,
    assignment: str,
    student: str,
    version: int,
    archive: Archive,
    caller: Caller,
) -> dict:
    blob = await asyncio.to_thread(context.store.put, archive.data)
    now = context.now()

    def work(session):
        target = exchange_db.submission(session, course.id, assignment, student, version)
        if target is None:
            raise Refusal(404, f"{student} has no version {version} of {assignment}")
        row = exchange_db.put_feedback(session, target, archive, blob, caller.name, now)
        return exchange_db.feedback_json(row, target.submitted_at)

    return await context.db.run(work)


# ----- server-side workflow (the CLI) -----------------------------------------------------


async def generate_and_release(
    context: ServiceContext, course: Course, assignment: str, caller: Caller
) -> tuple[dict, int]:
    workspace = await asyncio.to_thread(context.workspace, course)
    if not workspace.source_exists(assignment):
        raise Refusal(
            404,
            f"no source for {assignment}: add courses/{course.id}/source/{assignment}/ "
            f"(nbgrader's source format) or create it in the course's formgrader",
        )
    await asyncio.to_thread(workspace.set_assignment, assignment, context.due(course, assignment))
    folder = await workspace.generate(assignment)
    data = await asyncio.to_thread(pack_directory, folder)
    archive = await asyncio.to_thread(read_archive, data, context.settings.limits)
    return await publish(context, course, assignment, archive, caller)


async def collect(context: ServiceContext, course: Course, assignment: str, caller: Caller) -> dict:
    """Write each student's chosen version into the course folder and record it. A student
    whose stored version cannot be written (an archive kept from before names were checked,
    a full disk) is listed under ``failed`` with the reason; the others are collected."""
    workspace = await asyncio.to_thread(context.workspace, course)
    due = context.due(course, assignment)

    def chosen(session):
        dues = extensions.student_dues(session, course.id, assignment, due)
        rows = exchange_db.chosen_for_collection(
            exchange_db.submissions(session, course.id, assignment), dues.of
        )
        return dues, rows

    dues, rows = await context.db.run(chosen)
    # The gradebook keeps each student's extension, so nbgrader's late penalty
    # (AssignLatePenalties at autograde) judges against the student's own due date.
    await asyncio.to_thread(
        workspace.set_assignment,
        assignment,
        due,
        sorted(course.students),
        {student: dues.extension_of(student) for student in rows},
    )

    def write_all() -> dict[str, str]:  # one worker thread for all files: no hop per student
        return {
            student: reason
            for student, row in rows.items()
            if (reason := _write_submission(context, workspace, student, assignment, row))
        }

    failures = await asyncio.to_thread(write_all)
    written = {student: row for student, row in rows.items() if student not in failures}
    collected = [exchange_db.submission_json(row, dues.of(row.student)) for row in written.values()]
    now = context.now()

    def record(session):
        for row in written.values():
            exchange_db.record_collection(session, row, caller.name, now)

    await context.db.run(record)
    log.info("%s collected %d submission(s) of %s/%s", caller, len(written), course.id, assignment)
    failed = [{"student": student, "reason": failures[student]} for student in sorted(failures)]
    for failure in failed:
        log.warning("Could not collect %s/%s for %s", course.id, assignment, failure)
    return {"collected": collected, "failed": failed}


def _write_submission(
    context: ServiceContext,
    workspace: Workspace,
    student: str,
    assignment: str,
    row: Submission,
) -> str | None:
    """Lay one student's chosen version out in the course folder; the reason it failed, or
    None. Blocking: runs in collect's worker thread."""
    try:
        data = context.store.get(row.blob)
    except OSError:
        log.exception("Submission blob %s of %s is unreadable", row.blob, student)
        return f"version {row.version}'s stored archive cannot be read from the file store"
    try:
        workspace.write_submission(student, assignment, data, row.submitted_at)
    except SubmissionWriteError as error:
        return f"version {row.version} cannot be written into the course folder: {error}"
    except Exception:  # one student's surprise must not stop the course's collect
        log.exception("Writing %s's version %d of %s failed", student, row.version, assignment)
        return (
            f"version {row.version} cannot be written into the course folder "
            "(an unexpected error: the service's log has the details)"
        )
    return None


async def start_autograde(
    context: ServiceContext,
    course: Course,
    assignment: str,
    caller: Caller,
    student: str | None,
) -> str:
    collected = await context.db.run(
        lambda session: exchange_db.collections(session, course.id, assignment)
    )
    students = sorted(collected)
    if student is not None:
        if student not in collected:
            raise Refusal(404, f"no collected submission of {assignment} from {student}")
        students = [student]
    if not students:
        raise Refusal(
            409, f"nothing collected for {assignment} yet: run `coursehub assignment collect`"
        )
    job_id = uuid.uuid4().hex
    now = context.now()
    await context.db.run(
        lambda session: session.add(
            Job(
                id=job_id,
                kind="autograde",
                course=course.id,
                assignment=assignment,
                state="queued",
                total=len(students),
                done=0,
                failed=0,
                message="",
                created_by=caller.name,
                created_at=now,
            )
        )
    )
    context.jobs.start(_autograde(context, course, assignment, students, job_id))
    return job_id


async def _autograde(
    context: ServiceContext, course: Course, assignment: str, students: list[str], job_id: str
) -> None:
    # One grading run per course folder at a time: nbgrader's gradebook and folders are shared.
    lock = context.jobs.course_lock(course.id)
    last_report = [0.0]

    async def report(progress: Progress, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - last_report[0] < REPORT_SECONDS and progress.running:
            return
        last_report[0] = now
        await _update_job(
            context,
            job_id,
            done=progress.done,
            failed=progress.failed,
            running=progress.running,
            message=progress.message(),
        )

    started = time.monotonic()
    progress = None
    state = "failed"
    try:
        workspace = await asyncio.to_thread(context.workspace, course)
        async with lock:
            started = time.monotonic()  # the time waiting for the lock is not grading
            await _update_job(context, job_id, state="running", started_at=context.now())
            run = GradingRun(
                await context.cluster(),
                context.grading,
                course,
                course.assignment(assignment) or _uncatalogued(assignment),
                CourseFolder(workspace.root, course.id, workspace.db_url),
                context.settings.data_dir / "grading",
                job_id,
                report,
                context.grading_batches,
            )
            progress = await run.run(students)
            await report(progress, force=True)
        state = "failed" if progress.failed == len(students) else "done"
        await _update_job(context, job_id, state=state, running=0, finished_at=context.now())
    except Exception as error:
        log.exception("Autograde job %s failed", job_id)
        state = "failed"
        await _update_job(
            context,
            job_id,
            state="failed",
            running=0,
            message=f"grading stopped: {type(error).__name__}: {error}",
            finished_at=context.now(),
        )
    finally:
        context.metrics.grading_job_ended(
            course.id,
            state,
            time.monotonic() - started,
            graded=progress.done if progress is not None else 0,
            failed=progress.failed if progress is not None else 0,
        )


def _uncatalogued(assignment: str) -> Assignment:
    """An assignment made in the formgrader only: graded with the default limits."""
    return Assignment.model_construct(
        name=assignment, title=assignment, due=None, description="", grading=Grading()
    )


async def _update_job(context: ServiceContext, job_id: str, **values) -> None:
    def work(session):
        job = session.get(Job, job_id)
        for key, value in values.items():
            setattr(job, key, value)

    await context.db.run(work)


def fail_interrupted_jobs(context: ServiceContext) -> int:
    """At start-up: jobs a previous process left running can never finish; say so."""

    def work(session):
        jobs = session.scalars(select(Job).where(Job.state.in_(("queued", "running")))).all()
        for job in jobs:
            job.state = "failed"
            job.message = (job.message + "; " if job.message else "") + (
                "the service restarted during this job; run it again"
            )
            job.finished_at = context.now()
        return len(jobs)

    return context.db.run_sync(work)


async def job(context: ServiceContext, job_id: str) -> dict | None:
    def work(session):
        row = session.get(Job, job_id)
        return None if row is None else _job_json(row)

    return await context.db.run(work)


def _job_json(row: Job) -> dict:
    return {
        "id": row.id,
        "kind": row.kind,
        "course": row.course,
        "assignment": row.assignment,
        "state": row.state,
        "total": row.total,
        "done": row.done,
        "failed": row.failed,
        "running": row.running,
        "message": row.message,
        "created_by": row.created_by,
        "started_at": exchange_db.iso(row.started_at),
        "finished_at": exchange_db.iso(row.finished_at),
    }


def _latest_autograde(session, course: str, assignment: str) -> dict | None:
    """The assignment's newest grading job: live progress for `assignment status`."""
    row = session.scalars(
        select(Job)
        .where(Job.course == course, Job.assignment == assignment, Job.kind == "autograde")
        .order_by(Job.created_at.desc())
        .limit(1)
    ).first()
    return None if row is None else _job_json(row)


async def generate_and_release_feedback(
    context: ServiceContext, course: Course, assignment: str, caller: Caller
) -> dict:
    workspace = await asyncio.to_thread(context.workspace, course)
    collected = await context.db.run(
        lambda session: exchange_db.collections(session, course.id, assignment)
    )
    if not collected:
        raise Refusal(409, f"nothing collected for {assignment} yet")
    await workspace.generate_feedback(assignment)
    released, missing = [], []
    for student, collection in sorted(collected.items()):
        folder = workspace.feedback_folder(student, assignment)
        if not folder.is_dir() or not any(folder.iterdir()):
            missing.append(student)
            continue
        data = await asyncio.to_thread(pack_directory, folder)
        archive = await asyncio.to_thread(read_archive, data, context.settings.limits)
        await release_feedback(
            context, course, assignment, student, collection.version, archive, caller
        )
        released.append({"student": student, "version": collection.version})
    if missing:
        log.warning("No feedback generated for %s in %s/%s", missing, course.id, assignment)
    body = {"released": released, "without_feedback": missing}
    if context.lms.push_after_feedback and context.lms.enabled:
        try:
            body["lms"] = await lms_grades.push(context, course, assignment, caller)
        except Refusal as refusal:  # e.g. never launched from an LMS: feedback still went out
            body["lms"] = {"refused": refusal.message}
    return body


async def status(context: ServiceContext, course: Course, assignment: str) -> dict:
    due = context.due(course, assignment)

    def work(session):
        dues = extensions.student_dues(session, course.id, assignment, due)
        release = exchange_db.current_release(session, course.id, assignment)
        fetches = exchange_db.fetches(session, course.id, assignment)
        rows = exchange_db.submissions(session, course.id, assignment)
        collected = exchange_db.collections(session, course.id, assignment)
        feedback = {
            (row.student, row.version): row
            for row in exchange_db.feedback(session, course.id, assignment)
        }
        by_student: dict[str, list] = {}
        for row in rows:
            by_student.setdefault(row.student, []).append(row)
        students = []
        for student in sorted(set(course.students) | set(by_student)):
            versions = by_student.get(student, [])
            last = versions[-1] if versions else None
            collection = collected.get(student)
            given = feedback.get((student, collection.version)) if collection else None
            students.append(
                {
                    "student": student,
                    "enrolled": student in course.students,
                    "fetched_at": exchange_db.iso(fetches[student].last_fetched_at)
                    if student in fetches
                    else None,
                    "submissions": len(versions),
                    "last_submitted_at": exchange_db.iso(last.submitted_at) if last else None,
                    "late": is_late(last.submitted_at, dues.of(student)) if last else False,
                    "due": exchange_db.iso(dues.of(student)),
                    "collected_version": collection.version if collection else None,
                    "feedback_released_at": exchange_db.iso(given.released_at) if given else None,
                }
            )
        return {
            "course": course.id,
            "assignment": assignment,
            "due": exchange_db.iso(due),
            "released_at": exchange_db.iso(release.released_at) if release else None,
            "students": students,
            "autograde": _latest_autograde(session, course.id, assignment),
        }

    return await context.db.run(work)


async def grades_csv(context: ServiceContext, course: Course, assignment: str | None) -> str:
    workspace = await asyncio.to_thread(context.workspace, course)
    try:
        grades = await asyncio.to_thread(workspace.grades, assignment)
    except Exception as error:  # nbgrader's MissingEntry for an unknown assignment
        if type(error).__name__ == "MissingEntry":
            raise Refusal(404, f"{assignment} has no grades in {course.id}'s gradebook") from None
        raise

    def work(session):
        chosen, dues = {}, {}
        for name in {row["assignment"] for row in grades}:
            dues[name] = extensions.student_dues(
                session, course.id, name, context.due(course, name)
            )
            for student, collection in exchange_db.collections(session, course.id, name).items():
                chosen[(student, name)] = exchange_db.submission(
                    session, course.id, name, student, collection.version
                )
        return chosen, dues

    chosen, dues = await context.db.run(work)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "assignment", "score", "max_score", "submitted_at", "late"])
    for row in grades:
        submission = chosen.get((row["student"], row["assignment"]))
        due = dues[row["assignment"]].of(row["student"])
        writer.writerow(
            [
                row["student"],
                row["assignment"],
                _number(row["score"]),
                _number(row["max_score"]),
                exchange_db.iso(submission.submitted_at) if submission else "",
                str(is_late(submission.submitted_at, due)).lower() if submission else "",
            ]
        )
    return buffer.getvalue()


def _number(value: float) -> str:
    return f"{value:g}"
