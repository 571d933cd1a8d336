"""Grading a set of submissions with pods: prepare, ship, run, record, with live progress.

The steps for one autograde job:

1. ``nbgrader_steps.prepare`` each submission (in the service's one gradebook thread);
2. group them into batches and write each batch's folder (``protocol``) in the service's
   own data folder;
3. run at most ``parallelism`` grading pods at once (``pods``), each over one batch, with a
   token good for that batch alone (``transport``): the pod fetches the batch's inputs from
   the service and posts its results, which the service stores in the batch's folder;
4. while a pod runs, record each result as it arrives (``nbgrader_steps.record``) and
   report progress: done, failed, running, and why a pod waits (e.g. no free GPU);
5. when a pod ends, a submission without a result has failed, with the pod's reason.

Student code never runs in the service: the service only reads result files, checks them
(``protocol.parse_cells``) and hands the outputs to nbgrader's own preprocessors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from coursehub.catalog.model import Assignment, Course
from coursehub.grading import nbgrader_steps
from coursehub.grading.capacity import fitting_pods
from coursehub.grading.nbgrader_steps import CourseFolder, PreparedSubmission
from coursehub.grading.pods import PodPlan, grading_pod, grading_secret, pod_name
from coursehub.grading.protocol import (
    CellResult,
    ProtocolError,
    code_cells,
    parse_cells,
    parse_result,
    write_json_atomically,
)
from coursehub.grading.settings import GradingSettings
from coursehub.grading.transport import BatchTickets, batch_id

log = logging.getLogger("coursehub.grading")
POLL_SECONDS = 0.25
FALLBACK_PARALLELISM = 4


@dataclass
class Progress:
    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    waiting: str = ""
    failures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # graded, but not all of it ran

    def message(self) -> str:
        parts = [f"{student}: {why}" for student, why in sorted(self.failures.items())]
        parts += [f"{student}: {note}" for student, note in sorted(self.notes.items())]
        if self.waiting:
            parts.append(self.waiting)
        return "; ".join(parts)


class Cluster:
    """The Kubernetes calls grading makes (pods in one namespace; nodes to size the run)."""

    def __init__(self, api_client):
        from kubernetes_asyncio import client

        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> Cluster:
        """In a pod: its service account; else the kubeconfig (``KUBECONFIG``)."""
        from kubernetes_asyncio import client, config

        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG")
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not kubeconfig:
            config.load_incluster_config()
            return cls(client.ApiClient())
        configuration = client.Configuration()
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        return cls(client.ApiClient(configuration))

    async def close(self) -> None:
        await self.api_client.close()

    async def _json(self, call, *args, **kwargs) -> dict:
        response = await call(*args, _preload_content=False, **kwargs)
        return json.loads(await response.read())

    async def create_pod(self, manifest: dict) -> None:
        await self.core.create_namespaced_pod(manifest["metadata"]["namespace"], manifest)

    async def read_pod(self, namespace: str, name: str) -> dict | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            return await self._json(self.core.read_namespaced_pod, name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def create_secret(self, manifest: dict) -> None:
        await self.core.create_namespaced_secret(manifest["metadata"]["namespace"], manifest)

    async def delete_secret(self, namespace: str, name: str) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            await self.core.delete_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    async def delete_pod(self, namespace: str, name: str) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            await self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise

    async def fitting(self, manifest: dict) -> int | None:
        """How many such pods fit now; None when the service may not read nodes."""
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            nodes = await self._json(self.core.list_node)
            pods = await self._json(self.core.list_pod_for_all_namespaces)
        except ApiException as error:
            log.info(
                "Cannot size grading from the cluster (%s); using %d pods",
                error.status,
                FALLBACK_PARALLELISM,
            )
            return None
        return fitting_pods(nodes.get("items", []), pods.get("items", []), manifest)


def limits_json(assignment: Assignment) -> dict:
    from coursehub.quantity import parse_quantity

    grading = assignment.grading
    return {
        "cell_timeout": grading.cell_timeout_seconds,
        "notebook_timeout": grading.notebook_timeout_seconds,
        "memory": int(parse_quantity(grading.memory)),
        "max_output": grading.max_output_kb * 1024,
        "disk": int(parse_quantity(grading.disk)),
    }


def batch_size(students: int, parallelism: int, max_batch: int) -> int:
    """Enough batches to keep every pod slot busy, no bigger than ``max_batch``."""
    return max(1, min(max_batch, math.ceil(students / max(parallelism, 1))))


class GradingRun:
    def __init__(
        self,
        cluster: Cluster,
        settings: GradingSettings,
        course: Course,
        assignment: Assignment,
        folder: CourseFolder,
        work_dir: Path,
        job_id: str,
        report: Callable[[Progress], Awaitable[None]],
        tickets: BatchTickets,
    ):
        if not settings.service_url:
            raise ValueError(
                "COURSEHUB_GRADING_SERVICE_URL is not set: grading pods would have no address "
                "to fetch their inputs from and post their results to (docs/grading.md)"
            )
        self.tickets = tickets
        self.cluster, self.settings = cluster, settings
        self.course, self.assignment, self.folder = course, assignment, folder
        self.work_dir = work_dir / job_id
        self.job_id = job_id
        self.report = report
        self.limits = limits_json(assignment)
        # nbgrader's gradebook is used from one thread only: no SQLite lock contention.
        self.gradebook_thread = ThreadPoolExecutor(1, thread_name_prefix="gradebook")
        self.prepared: dict[str, PreparedSubmission] = {}
        self.settled: set[str] = set()  # done or failed: counted once
        self._batches = 0

    async def _in_gradebook_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self.gradebook_thread, function, *args
        )

    def _plan(self, batch: int, submissions: int, notebooks: int) -> PodPlan:
        name = pod_name(self.job_id, batch)
        service = self.settings.service_url.rstrip("/")
        return PodPlan(
            name=pod_name(self.job_id, batch),
            namespace=self.settings.namespace,
            course=self.course.id,
            assignment=self.assignment.name,
            job_id=self.job_id,
            batch=batch,
            submissions=submissions,
            notebooks=max(notebooks, 1),
            environment=self.course.grading_environment(self.assignment),
            grading=self.assignment.grading,
            labels=dict(self.settings.pod_labels),
            batch_url=f"{service}/api/grading/batches/{batch_id(self.job_id, batch)}",
            secret_name=f"{name}-token",
            namespaces=self.settings.namespaces,
        )

    async def run(self, students: list[str]) -> Progress:
        """Grade ``students``; never raises for what a submission or a pod did: each
        student ends done (graded) or failed, with a reason in ``progress.failures``."""
        progress = Progress(total=len(students))
        tasks: list[asyncio.Task] = []
        try:
            await self.report(progress)
            parallelism = self.settings.parallelism
            if parallelism is None:
                probe = grading_pod(self._plan(0, 1, 1))
                parallelism = await self.cluster.fitting(probe) or FALLBACK_PARALLELISM
            size = batch_size(len(students), parallelism, self.settings.max_batch)
            batches = [students[i : i + size] for i in range(0, len(students), size)]
            log.info(
                "Grading %d submission(s) of %s/%s: %d pod(s), %d at a time",
                len(students),
                self.course.id,
                self.assignment.name,
                len(batches),
                parallelism,
            )
            slots = asyncio.Semaphore(parallelism)
            for batch in batches:
                ready = await self._prepare_batch(self._new_batch_number(), batch, progress)
                tasks.append(asyncio.create_task(self._grade_batch(ready, slots, progress)))
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            for batch, outcome in zip(batches, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    log.error(
                        "Grading a batch of %s failed", self.assignment.name, exc_info=outcome
                    )
                    for student in batch:
                        self._fail(progress, student, f"not graded: {_plain(outcome)}")
        finally:
            for task in tasks:
                task.cancel()
            if tasks:  # every pod deleted and every result read before the folders go
                await asyncio.wait(tasks)
            self.gradebook_thread.shutdown(wait=True)
            shutil.rmtree(self.work_dir, ignore_errors=True)
        progress.running = 0
        progress.waiting = ""
        await self.report(progress)
        return progress

    def _new_batch_number(self) -> int:
        self._batches += 1
        return self._batches - 1

    def _fail(self, progress: Progress, student: str, reason: str) -> None:
        if student in self.settled:
            return
        self.settled.add(student)
        progress.failed += 1
        progress.failures[student] = reason

    def _done(self, progress: Progress, student: str, note: str = "") -> None:
        if student in self.settled:
            return
        self.settled.add(student)
        progress.done += 1
        if note:
            progress.notes[student] = note

    async def _prepare_batch(
        self, number: int, students: list[str], progress: Progress
    ) -> tuple[int, list[str]]:
        folder = self.work_dir / str(number)
        ready = []
        for student in students:
            prepared = self.prepared.get(student)
            if prepared is None:
                try:
                    prepared = await self._in_gradebook_thread(
                        nbgrader_steps.prepare, self.folder, self.assignment.name, student
                    )
                except Exception as error:
                    log.exception("Preparing %s's %s failed", student, self.assignment.name)
                    self._fail(progress, student, f"could not be prepared for grading: {error}")
                    await self.report(progress)
                    continue
                self.prepared[student] = prepared
            index = len(ready)
            await asyncio.to_thread(_write_submission, folder / "in" / str(index), prepared)
            ready.append(student)
        write_json_atomically(
            folder / "in" / "batch.json",
            {
                "limits": self.limits,
                "uid_base": self.settings.uid_base + 1000 * (number % 200),
                "masked_paths": list(self.settings.masked_paths),
                "submissions": ready,
            },
        )
        (folder / "out").mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        return number, ready

    async def _grade_batch(
        self, batch: tuple[int, list[str]], slots: asyncio.Semaphore, progress: Progress
    ) -> None:
        """One pod over the batch; if it dies, the submission it was grading keeps what it
        had graded (the rest scores zero, with the reason), and the ones it had not started
        go to a new pod, once."""
        number, students = batch
        unstarted, reason = await self._run_batch(number, students, slots, progress)
        if unstarted and reason.retry:
            log.warning("Grading %d submission(s) again in a new pod: %s", len(unstarted), reason)
            retry = await self._prepare_batch(self._new_batch_number(), unstarted, progress)
            unstarted, reason = await self._run_batch(*retry, slots, progress)
        for student in unstarted:
            self._fail(progress, student, f"not graded: {reason}")
        await self.report(progress)

    async def _run_batch(
        self, number: int, students: list[str], slots: asyncio.Semaphore, progress: Progress
    ) -> tuple[list[str], EndReason]:
        """Run one pod; returns the students it did not start and why the pod ended."""
        if not students:
            return [], EndReason("", retry=False)
        notebooks = max(len(self.prepared[s].notebooks) for s in students)
        plan = self._plan(number, len(students), notebooks)
        manifest = grading_pod(plan)
        folder = self.work_dir / str(number)
        recorded: set[int] = set()
        batch = batch_id(self.job_id, number)
        async with slots:
            try:
                token = self.tickets.open(
                    batch,
                    folder,
                    submissions=len(students),
                    cells=max(_code_cell_count(self.prepared[s]) for s in students),
                    max_output=self.limits["max_output"],
                    lifetime_seconds=plan.deadline_seconds(),
                )
                await self.cluster.create_secret(grading_secret(plan, token))
                del token  # only its hash stays in the service
                await self.cluster.create_pod(manifest)
                counted_running = False
                while True:
                    pod = await self.cluster.read_pod(plan.namespace, plan.name)
                    phase = (pod or {}).get("status", {}).get("phase", "Gone")
                    if phase == "Running" and not counted_running:
                        # The pod's deadline counts from now, and so does its token's.
                        self.tickets.restart_clock(batch, plan.deadline_seconds())
                        counted_running = True
                        progress.running += len(students)
                        progress.waiting = ""
                    elif phase == "Pending":
                        progress.waiting = _waiting_reason(pod, plan.name)
                        await self.report(progress)
                    await self._collect(folder, students, recorded, progress)
                    if phase in ("Succeeded", "Failed", "Gone"):
                        break
                    await asyncio.sleep(POLL_SECONDS)
                await self._collect(folder, students, recorded, progress)
                if counted_running:
                    progress.running = max(progress.running - (len(students) - len(recorded)), 0)
                reason = _refusal(folder) or EndReason(_end_reason(pod, phase))
                unstarted = []
                for index, student in enumerate(students):
                    if index in recorded:
                        continue
                    if (folder / "out" / f"{index}.progress").exists() and not reason.refused:
                        await self._record_partly(folder, index, student, reason, progress)
                    else:
                        unstarted.append(student)
                return unstarted, reason
            finally:
                self.tickets.close(batch)  # nothing more is taken from this pod
                await self.cluster.delete_pod(plan.namespace, plan.name)
                await self.cluster.delete_secret(plan.namespace, plan.secret_name)
                shutil.rmtree(folder, ignore_errors=True)  # this pod's folder only

    async def _collect(
        self, folder: Path, students: list[str], recorded: set[int], progress: Progress
    ) -> None:
        for index, student in enumerate(students):
            if index in recorded or not (folder / "out" / f"{index}.json").exists():
                continue
            recorded.add(index)
            progress.running = max(progress.running - 1, 0)
            try:
                await self._in_gradebook_thread(self._record, folder, index, student)
                self._done(progress, student)
            except ProtocolError as error:
                # The pod wrote garbage: the student gets a plain error and zero for it.
                await self._record_zero(student, f"its grading result was unusable ({error})")
                self._done(progress, student, f"graded zero: unusable grading result ({error})")
            except Exception as error:
                log.exception("Recording %s's grading result failed", student)
                self._fail(progress, student, f"its result could not be recorded: {_plain(error)}")
            await self.report(progress)

    def _record(self, folder: Path, index: int, student: str) -> None:
        try:
            data = json.loads((folder / "out" / f"{index}.json").read_text())
        except ValueError as error:
            raise ProtocolError(f"the result file is not JSON: {error}") from None
        results = parse_result(data, self.limits["max_output"])
        for notebook in self.prepared[student].notebooks:
            result = results.get(notebook.name)
            cells = result.cells if result else []
            feedback = result.feedback_cells if result else None
            nbgrader_steps.record(
                self.folder, self.assignment.name, student, notebook, cells, self.limits, feedback
            )

    async def _record_partly(
        self, folder: Path, index: int, student: str, reason: EndReason, progress: Progress
    ) -> None:
        """The pod stopped while grading this submission: the cells it finished count, the
        rest score zero with a sentence saying why."""
        missing = f"the grading pod stopped while this submission was graded ({reason})"
        try:
            cells = _progress_cells(folder / "out" / f"{index}.progress", self.limits)
            await self._in_gradebook_thread(self._record_cells, student, cells, missing)
            self._done(progress, student, f"graded in part: {missing}")
        except Exception as error:
            log.exception("Recording %s's partial grading failed", student)
            self._fail(progress, student, f"not graded: {reason}; {_plain(error)}")

    async def _record_zero(self, student: str, why: str) -> None:
        await self._in_gradebook_thread(self._record_cells, student, {}, why)

    def _record_cells(self, student: str, cells: dict[str, list[CellResult]], missing: str):
        for notebook in self.prepared[student].notebooks:
            nbgrader_steps.record(
                self.folder,
                self.assignment.name,
                student,
                notebook,
                cells.get(notebook.name, []),
                self.limits,
                missing=missing,
            )


@dataclass(frozen=True)
class EndReason:
    """Why a pod ended without some results: a sentence, and whether another pod may do
    better (not when the pod refused to run student code at all)."""

    text: str
    retry: bool = True
    refused: bool = False

    def __str__(self) -> str:
        return self.text


def _refusal(folder: Path) -> EndReason | None:
    """The runner's ``out/refused.json``: it could not confine student code, so it ran none."""
    path = folder / "out" / "refused.json"
    if not path.exists():
        return None
    try:
        reason = json.loads(path.read_text()).get("reason")
    except (ValueError, AttributeError):
        reason = None
    text = reason[:500] if isinstance(reason, str) else "the grading pod refused to run"
    return EndReason(f"the grading pod ran no student code: {text}", retry=False, refused=True)


def _progress_cells(path: Path, limits: dict) -> dict[str, list[CellResult]]:
    """The grading run's cells that finished, by notebook, from a pod's progress file (its
    last line may be cut short where the pod stopped)."""
    cells: dict[str, list[CellResult]] = {}
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            name = entry["notebook"]
            if not isinstance(name, str):
                continue
            cells.setdefault(name, []).extend(
                parse_cells({"cells": [entry["cell"]]}, limits["max_output"])
            )
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short or garbled: that cell counts as not run
    return cells


def _code_cell_count(prepared: PreparedSubmission) -> int:
    return sum(
        1
        for notebook in prepared.notebooks
        for cell in notebook.notebook["cells"]
        if cell.get("cell_type") == "code"
    )


def _plain(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _write_submission(folder: Path, prepared: PreparedSubmission) -> None:
    """A pod's view of one submission: code cells, and the files its code may open."""
    files = folder / "files"
    shutil.rmtree(folder, ignore_errors=True)
    files.mkdir(parents=True)
    for path in sorted(prepared.files.rglob("*")):
        relative = path.relative_to(prepared.files)
        if path.is_dir():
            (files / relative).mkdir(exist_ok=True)
        elif path.is_file() and path.suffix != ".ipynb" and not path.is_symlink():
            # Notebooks stay out: the prepared ones hold hidden tests the code must not read.
            shutil.copy2(path, files / relative)
    write_json_atomically(
        folder / "cells.json",
        {
            "key": prepared.student,
            "notebooks": [
                {"name": nb.name, "cells": code_cells(nb.notebook)} for nb in prepared.notebooks
            ],
        },
    )


def _waiting_reason(pod: dict | None, name: str) -> str:
    for condition in (pod or {}).get("status", {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"{name} waits to be scheduled: {condition.get('message', '')}".strip()
    return f"{name} is starting"


def _end_reason(pod: dict | None, phase: str) -> str:
    if pod is None:
        return "its grading pod disappeared"
    status = pod.get("status", {})
    reason = status.get("reason") or ""
    message = status.get("message") or ""
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated:
            reason = reason or terminated.get("reason", "")
            said = str(terminated.get("message") or "")[:300]  # a start error's cause
            message = message or said or f"exit code {terminated.get('exitCode')}"
    return f"its grading pod ended {phase}" + (
        f" ({reason}: {message})" if reason or message else ""
    )
