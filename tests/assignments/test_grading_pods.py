"""Autograding with coursehub's grading pods (a dev cluster in this process, the service's
``GradingRun``): hostile submissions are each contained with a grade and a plain message and
affect no one else; honest ones get nbgrader's own scores; regrading changes nothing; a GPU
assignment's pod asks for the GPU and waits while none is free."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import re
import signal
import socket
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from answers import full_marks_answers, partial_answers
from course_folder import ASSIGNMENT, REPO_ROOT, db_url, generate, nbgrader, scores, submit
from grading_harness import course_assignment, dev_cluster, grade_with_pods

from coursehub.dev.processes import free_port
from coursehub.grading.settings import GradingSettings

SECRET = "hub-token-that-must-not-leak"


def hostile_cells(
    root: Path, victim: Path, port: int, source: Path, service_port: int
) -> dict[str, str]:
    """Code a student adds in a cell of its own, before the first answer; ``source``: a copy
    of the assignment with its solutions on the machine; ``service_port``: the service's,
    the one port grading pods may reach."""
    return {
        "loop": "while True:\n    pass",
        "memory": "hog = bytearray(64 * 1024**3)",
        "forkbomb": "import os\nwhile True:\n    os.fork()",
        "flood": "print('x' * 100_000_000)",
        "solution": f"print(open({str(source)!r}).read())",
        "workspace": f"print(open({str(root / 'source/ps1/ps1.ipynb')!r}).read())",
        "neighbour": f"print(open({str(root / 'submitted/honest/ps1/ps1.ipynb')!r}).read())\n"
        "print(os.listdir('..'))",
        "environment": "import os\nprint(sorted(os.environ.items()))",
        "network": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)",
        "gradebook": "import sqlite3\n"
        f"db = sqlite3.connect({str(root / 'gradebook.db')!r})\n"
        "db.execute('update grade set auto_score=99')",
        "delete": f"import os\nos.remove({str(victim)!r})",
        "crash": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
        # The batch token, in any process's environment it can read (the runner's included).
        "procenv": "import glob\nfound = []\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        if b'COURSEHUB_GRADING' in open(path, 'rb').read():\n"
        "            found.append(path)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('token found in', found)",
        # The service's grading endpoints, without the batch token (the runner holds it).
        "service": "import urllib.request, urllib.error\n"
        f"base = 'http://127.0.0.1:{service_port}/services/coursehub/api/grading/batches/'\n"
        "for path in ('x-0/inputs', 'x-0/results/0'):\n"
        "    try:\n"
        "        urllib.request.urlopen(base + path, data=b'{}', timeout=3)\n"
        "        print('OPEN', path)\n"
        "    except urllib.error.HTTPError as error:\n"
        "        print('refused', error.code, path)\n"
        "    except OSError as error:\n"
        "        print('unreachable', error)",
    }


# What each hostile cell's outputs must say (a plain message, or the error it ran into).
EXPECTED_OUTPUT = {
    "loop": "did not finish within 3 s",
    "memory": "ran out of memory",
    # The loop stops at the process limit, or is stopped at the cell's time limit.
    "forkbomb": ("Resource temporarily unavailable", "did not finish within 3 s"),
    "flood": "[output truncated",
    "solution": "Permission denied",
    "workspace": "Errno",
    "neighbour": "Errno",
    # No route at all (namespaces), or the pod's own loopback only (NetworkPolicy).
    "network": ("Network is unreachable", "Connection refused"),
    "service": ("Network is unreachable", "refused 401"),
    "procenv": "token found in []",
    "gradebook": "Error",
    "delete": "Errno",
    "crash": "The Python process died while running this cell (killed by SIGSEGV)",
}


def with_extra_cell(notebook: dict, source: str) -> dict:
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": []}
    cell["source"] = source
    notebook["cells"].insert(2, cell)  # after the data, before the first answer
    return notebook


def cell_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        parts.append(str(output.get("evalue", "")))
        parts.append("".join(output.get("traceback", [])))
        parts.append(json.dumps(output.get("data", {})))
    return "\n".join(parts)


def autograded(root: Path, student: str) -> dict:
    return json.loads((root / "autograded" / student / ASSIGNMENT / "ps1.ipynb").read_text())


@pytest.fixture(scope="module", params=["namespaces", "users"])
def hostile_run(tmp_path_factory, request):
    """The same battery in the dev cluster's sandbox (namespaces: the pods share this
    machine, whose folders it hides) and as production grading pods run (users: no
    CAP_SYS_ADMIN, a user per submission, the network cut by the NetworkPolicy). In the
    users mode the solutions are where a real pod would never have them but this machine
    does: in a folder of the service's own (0700)."""
    mode = request.param
    root = tmp_path_factory.mktemp(f"hostile-{mode}") / "course"
    root.mkdir()
    released = generate(root)
    victim = root.parent / "victim.txt"
    victim.write_text("keep me")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    solution = REPO_ROOT / "courses/ai-101/source/ps1/ps1.ipynb"
    if mode == "users":
        solution = root.parent / "solution.ipynb"
        solution.write_text((REPO_ROOT / "courses/ai-101/source/ps1/ps1.ipynb").read_text())
    service_port = free_port()
    cells = hostile_cells(root, victim, listener.getsockname()[1], solution, service_port)
    submit(root, "honest", full_marks_answers(released))
    submit(root, "partial", partial_answers(released))
    for name, source in cells.items():
        submit(root, name, with_extra_cell(full_marks_answers(released), source))
    tampered = full_marks_answers(released)
    test_cell = next(
        c for c in tampered["cells"] if c["metadata"]["nbgrader"].get("grade_id") == "test-sigmoid"
    )
    test_cell["source"] = "pass  # no test here"
    submit(root, "tamper", tampered)
    stuck = full_marks_answers(released)
    train = next(c for c in stuck["cells"] if c["metadata"]["nbgrader"].get("grade_id") == "train")
    train["source"] = "def train(X, y, lr=0.5, epochs=200):\n    while True:\n        pass"
    submit(root, "stuck", stuck)
    peek = full_marks_answers(released)  # prints every cell run so far, hidden tests too
    peek["cells"].append(with_extra_cell({"cells": [None] * 2}, "print(In)")["cells"][2])
    submit(root, "peek", peek)
    smuggle = full_marks_answers(released)  # the hidden tests, encoded every way it can
    smuggle["cells"].append(with_extra_cell({"cells": [None] * 2}, SMUGGLE)["cells"][2])
    submit(root, "smuggle", smuggle)
    students = ["honest", "partial", *cells, "tamper", "stuck", "peek", "smuggle"]
    _, assignment = course_assignment(cell_timeout_seconds=3, notebook_timeout_seconds=120)
    settings = GradingSettings(parallelism=2)
    if mode == "namespaces":
        masked = (str(root.parent), str(REPO_ROOT / "courses"))
        settings = GradingSettings(parallelism=2, masked_paths=masked)
    os.environ["JUPYTERHUB_API_TOKEN"] = SECRET  # in the grading service's own environment

    async def run():
        async with dev_cluster(root.parent / "devcluster", service_port=service_port) as cluster:
            return await grade_with_pods(
                cluster, root, students, settings=settings, assignment=assignment
            )

    try:
        progress = asyncio.run(run())
    finally:
        os.environ.pop("JUPYTERHUB_API_TOKEN", None)
    try:
        connection, _ = listener.accept()
        connection.close()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    return {
        "mode": mode,
        "root": root,
        "progress": progress,
        "scores": scores(root),
        "victim": victim,
        "reached": reached,
    }


def test_every_submission_is_graded(hostile_run):
    progress = hostile_run["progress"]
    assert progress.failed == 0, progress.message()
    assert progress.done == progress.total == 20


def test_honest_students_in_the_same_run_get_their_scores(hostile_run):
    assert hostile_run["scores"]["honest"] == 10.0
    assert hostile_run["scores"]["partial"] == 7.0


@pytest.mark.parametrize("attack", sorted(EXPECTED_OUTPUT))
def test_hostile_cell_is_contained_with_a_plain_message(hostile_run, attack):
    notebook = autograded(hostile_run["root"], attack)
    text = cell_text(notebook["cells"][2])
    expected = EXPECTED_OUTPUT[attack]
    assert any(
        option in text for option in ([expected] if isinstance(expected, str) else expected)
    ), text[:2000]
    # The rest of the notebook ran and was graded: full marks, as the answers are right.
    assert hostile_run["scores"][attack] == 10.0


def test_secrets_and_solutions_stay_out_of_reach(hostile_run):
    root = hostile_run["root"]
    environment = cell_text(autograded(root, "environment")["cells"][2])
    assert SECRET not in environment and "KUBERNETES" not in environment
    assert "COURSEHUB_GRADING" not in environment  # neither the batch token nor its address
    assert "PATH" in environment  # the cell did print the environment
    for attack in ("solution", "workspace", "neighbour"):
        assert "BEGIN SOLUTION" not in cell_text(autograded(root, attack)["cells"][2])
    assert not hostile_run["reached"], "a grading process opened a connection to the machine"
    assert hostile_run["victim"].read_text() == "keep me"
    assert all(score <= 10.0 for score in hostile_run["scores"].values())  # gradebook intact


def test_each_mode_cuts_the_network_its_own_way(hostile_run):
    text = cell_text(autograded(hostile_run["root"], "network")["cells"][2])
    if hostile_run["mode"] == "namespaces":
        assert "Network is unreachable" in text  # a network namespace with nothing up
    else:
        assert "Connection refused" in text  # the pod's own loopback, nothing else


def test_student_code_reaches_the_service_port_only_to_be_refused(hostile_run):
    """Production grading pods may reach the service's port (to fetch and post their batch);
    student code there has no token and gets 401. In the dev cluster's sandbox it has no
    network at all."""
    text = cell_text(autograded(hostile_run["root"], "service")["cells"][2])
    assert "OPEN" not in text
    if hostile_run["mode"] == "namespaces":
        assert text.count("Network is unreachable") == 2, text
    else:
        assert "refused 401 x-0/inputs" in text and "refused 401 x-0/results/0" in text


def test_without_its_network_policy_a_production_pod_runs_no_student_code(tmp_path):
    """A cluster whose network plugin ignores NetworkPolicy: the runner finds the
    Kubernetes API reachable and refuses, rather than grade with the network open."""
    root = tmp_path / "course"
    root.mkdir()
    released = generate(root)
    marker = tmp_path / "ran"
    tmp_path.chmod(0o777)
    submit(
        root,
        "mallory",
        with_extra_cell(full_marks_answers(released), f"open({str(marker)!r}, 'w')"),
    )

    async def scenario():
        async with dev_cluster(tmp_path / "devcluster", network_policy=False) as cluster:
            return await grade_with_pods(cluster, root, ["mallory"], settings=GradingSettings())

    progress = asyncio.run(scenario())
    assert progress.failed == 1 and progress.done == 0
    reason = progress.failures["mallory"]
    assert reason.startswith("not graded: the grading pod ran no student code: refusing")
    assert "NetworkPolicy is not in force" in reason
    assert not marker.exists()


def test_flood_output_is_capped(hostile_run):
    flood = autograded(hostile_run["root"], "flood")
    assert len(json.dumps(flood)) < 3 * 1024**2


def test_tampered_test_cell_is_restored_and_said_so(hostile_run):
    notebook = autograded(hostile_run["root"], "tamper")
    test_cell = next(
        c for c in notebook["cells"] if c["metadata"]["nbgrader"].get("grade_id") == "test-sigmoid"
    )
    assert "assert sigmoid(0) == 0.5" in "".join(test_cell["source"])
    assert "was changed in your submission" in cell_text(test_cell)
    assert hostile_run["scores"]["tamper"] == 10.0


def test_a_stuck_answer_scores_zero_for_its_tests_only(hostile_run):
    notebook = autograded(hostile_run["root"], "stuck")
    test_train = next(
        c for c in notebook["cells"] if c["metadata"]["nbgrader"].get("grade_id") == "test-train"
    )
    assert "did not finish within 3 s" in cell_text(test_train)
    # test-train (3 points) timed out; the cells before it scored, test-accuracy too.
    assert hostile_run["scores"]["stuck"] == 7.0


def test_no_process_of_a_submission_outlives_grading(hostile_run):
    result = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True, check=True)
    uids = {int(line) for line in result.stdout.split()}
    assert not {uid for uid in uids if 200000 <= uid < 400000}


@pytest.fixture(scope="module")
def honest_course_pair(tmp_path_factory):
    """The same four submissions in two folders: one for nbgrader, one for coursehub."""
    folders = {}
    for name in ("nbgrader", "coursehub"):
        root = tmp_path_factory.mktemp(name) / "course"
        root.mkdir()
        released = generate(root)
        for student, answers in (
            ("alice", full_marks_answers(released)),
            ("bob", partial_answers(released)),
            ("carol", released),  # handed in untouched
        ):
            submit(root, student, answers)
        folders[name] = root
    return folders


def test_honest_grades_match_nbgrader_autograde_and_regrading_changes_nothing(
    honest_course_pair,
):
    theirs, ours = honest_course_pair["nbgrader"], honest_course_pair["coursehub"]
    result = nbgrader(theirs, "autograde", ASSIGNMENT, "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    students = ["alice", "bob", "carol"]

    async def grade_twice():
        async with dev_cluster(ours.parent / "devcluster") as cluster:
            settings = GradingSettings(parallelism=2, masked_paths=(str(ours.parent),))
            first = await grade_with_pods(cluster, ours, students, settings=settings)
            after_first = _gradebook_rows(ours)
            again = await grade_with_pods(cluster, ours, ["bob"], settings=settings)
            return first, after_first, again

    first, after_first, again = asyncio.run(grade_twice())
    assert first.failed == 0 and again.failed == 0
    assert scores(ours) == scores(theirs) == {"alice": 10.0, "bob": 7.0, "carol": 0.0}
    assert _gradebook_rows(ours) == after_first  # regrading bob: the same gradebook


def _gradebook_rows(root: Path) -> list[tuple]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url(root), "ai-101") as gradebook:
        return sorted(
            (grade.student.id, grade.name, grade.auto_score, grade.needs_manual_grade)
            for student in gradebook.students
            for submission in [gradebook.find_submission(ASSIGNMENT, student.id)]
            for notebook in submission.notebooks
            for grade in notebook.grades
        )


def _gpu_blocker(name: str, node_product: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"nvidia.com/gpu.product": node_product},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [
                {
                    "name": "train",
                    "image": "busy",
                    "command": ["sleep", "600"],
                    "resources": {"limits": {"nvidia.com/gpu": "2"}},
                }
            ],
        },
    }


def test_gpu_assignment_pod_requests_the_gpu_and_waits_while_none_is_free(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    released = generate(root)
    answers = with_extra_cell(
        full_marks_answers(released), "import os\nprint(os.environ['NVIDIA_VISIBLE_DEVICES'])"
    )
    submit(root, "student1", answers)
    course, assignment = course_assignment(environment="gpu")
    product = course.grading_environment(assignment).gpu.product
    reports: list = []

    async def scenario():
        async with dev_cluster(tmp_path / "devcluster") as cluster:
            for number in (1, 2):  # 2 nodes x 2 A100s: every GPU taken
                await cluster.create_pod(_gpu_blocker(f"blocker-{number}", product))
            settings = GradingSettings(parallelism=1, masked_paths=(str(tmp_path),))
            grading = asyncio.create_task(
                grade_with_pods(
                    cluster,
                    root,
                    ["student1"],
                    settings=settings,
                    assignment=assignment,
                    course=course,
                    reports=reports,
                )
            )
            for _ in range(100):
                await asyncio.sleep(0.1)
                if any("waits to be scheduled" in waiting for *_, waiting in reports):
                    break
            pods = await cluster._json(cluster.core.list_namespaced_pod, "default")
            grader = next(p for p in pods["items"] if p["metadata"]["name"].startswith("grading-"))
            assert grader["status"]["phase"] == "Pending"
            limits = grader["spec"]["containers"][0]["resources"]["limits"]
            assert limits["nvidia.com/gpu"] == "1"
            assert not grading.done()
            await cluster.delete_pod("default", "blocker-1")  # a GPU frees up
            return await asyncio.wait_for(grading, 120)

    progress = asyncio.run(scenario())
    assert progress.failed == 0 and progress.done == 1, progress.message()
    waiting = next(w for *_, w in reports if "waits to be scheduled" in w)
    assert "nvidia.com/gpu" in waiting, waiting
    notebook = autograded(root, "student1")
    assert "GPU-gpu-a100" in cell_text(notebook["cells"][2])  # the device the pod was given
    assert scores(root)["student1"] == 10.0


HIDDEN_LINE = "assert np.allclose(sigmoid(np.array([-1.0, 0.0, 1.0]"
# A last cell that puts every cell run so far (hidden tests, where it saw them) into
# outputs of every kind feedback can carry: an image, a PDF, HTML, JSON, base64 text, and
# a real PNG whose pixels are the text (no line of text to match in it).
SMUGGLE = """\
import base64, struct, zlib
from IPython.display import display
source = '\\n'.join(In)
packed = base64.b64encode(source.encode()).decode()
print(packed)
display({'image/png': packed, 'application/pdf': packed, 'text/html': '<pre>' + source + '</pre>',
         'application/json': {'source': source}}, raw=True)
def png(data, width=256):
    rows = [data[i:i + width].ljust(width, b'\\0') for i in range(0, len(data), width)]
    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body
                + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff))
    header = struct.pack('>IIBBBBB', width, len(rows), 8, 0, 0, 0, 0)
    pixels = zlib.compress(b''.join(b'\\0' + row for row in rows))
    signature = b'\\x89PNG\\r\\n\\x1a\\n'
    return signature + chunk(b'IHDR', header) + chunk(b'IDAT', pixels) + chunk(b'IEND', b'')
display({'image/png': base64.b64encode(png(source.encode())).decode(),
         'text/plain': 'drawn: ' + str('HIDDEN' + ' TESTS' in source)}, raw=True)
"""


def test_feedback_never_shows_hidden_test_source(hostile_run):
    root = hostile_run["root"]
    peek = autograded(root, "peek")
    assert HIDDEN_LINE in cell_text(peek["cells"][-1])  # the student's code did print them
    result = nbgrader(root, "generate_feedback", ASSIGNMENT, "--student", "peek", "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    page = (root / "feedback/peek/ps1/ps1.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))  # as a reader sees it
    assert "assert sigmoid(0) == 0.5" in text  # visible tests are shown
    assert "np.allclose(sigmoid(np.array" not in text
    assert "hidden tests are not shown" in text


def hidden_lines() -> list[str]:
    from coursehub.grading.hidden import hide_hidden_tests, secret_lines

    notebook = json.loads((REPO_ROOT / "courses/ai-101/source/ps1/ps1.ipynb").read_text())
    lines = []
    for cell in notebook["cells"]:
        lines += hide_hidden_tests("".join(cell["source"]))[1]
    return sorted(secret_lines(lines))


def decoded_payloads(text: str) -> list[str]:
    """Every base64 run of 40 characters or more in ``text``, decoded; a PNG's pixels as
    text too."""
    found = []
    for run in re.findall(r"[A-Za-z0-9+/]{40,}={0,2}", text):
        try:
            data = base64.b64decode(run + "=" * (-len(run) % 4))
        except ValueError:
            continue
        found.append(data.decode(errors="replace"))
        if data.startswith(b"\x89PNG"):
            found.append(png_pixels(data).decode(errors="replace"))
    return found


def png_pixels(data: bytes) -> bytes:
    """The pixels of an 8-bit greyscale PNG, row after row (filter bytes dropped)."""
    position, width, compressed = 8, 0, b""
    while position + 8 <= len(data):
        (size,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + size]
        if kind == b"IHDR":
            (width,) = struct.unpack(">I", body[:4])
        elif kind == b"IDAT":
            compressed += body
        position += 12 + size
    try:
        raw = zlib.decompress(compressed)
    except zlib.error:
        return b""
    stride = width + 1
    return b"".join(raw[row + 1 : row + stride] for row in range(0, len(raw), stride))


def test_feedback_never_shows_hidden_tests_in_any_encoding(hostile_run):
    root = hostile_run["root"]
    graded = autograded(root, "smuggle")
    assert hostile_run["scores"]["smuggle"] == 10.0
    result = nbgrader(root, "generate_feedback", ASSIGNMENT, "--student", "smuggle", "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    page = (root / "feedback/smuggle/ps1/ps1.html").read_text()
    readable = html.unescape(re.sub(r"<[^>]+>", "", page))
    decoded = decoded_payloads(page)
    assert any("def sigmoid" in payload for payload in decoded)  # it did smuggle its code
    # The feedback run never held a hidden test; the grading run did.
    last = graded["cells"][-1]
    assert "drawn: False" in json.dumps(last["metadata"]["coursehub"]["feedback_outputs"])
    assert "drawn: True" in json.dumps(last["outputs"])
    lines = hidden_lines()
    assert len(lines) > 10
    for line in lines:
        assert line not in page and line not in readable, line
        assert not [payload for payload in decoded if line in payload], line
    assert "Score for this cell, hidden tests included: 1 of 1." in readable
    assert "assert sigmoid(0) == 0.5" in readable  # visible tests are shown


# Sleeps only in the grading run (the one whose In holds the hidden tests): the feedback
# run goes by quickly, the grading run waits here to have its runner killed.
SLEEP_WHEN_GRADED = (
    "import time\nmarker = 'BEGIN ' + 'HIDDEN'\n"
    "if any(marker in c for c in In[:-1]):\n    time.sleep(120)"
)


def runner_pids(work: Path) -> list[int]:
    """Grading runners whose folder is under ``work`` (the dev cluster's state folder: the
    runner works in its pod's own emptyDir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            folder = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"coursehub.grading.runner" in command and folder.startswith(str(work)):
            pids.append(int(entry.name))
    return pids


def test_a_killed_runner_costs_only_the_submission_it_was_grading(tmp_path):
    """Say the node ran out of memory: the submission being graded keeps the cells it had
    finished and scores zero for the rest, with the reason; the others are graded."""
    root = tmp_path / "course"
    root.mkdir()
    released = generate(root)
    submit(root, "ann", full_marks_answers(released))
    sleeper = full_marks_answers(released)
    after_sigmoid_test = {"cells": [None] * 5}
    sleeper["cells"].insert(5, with_extra_cell(after_sigmoid_test, SLEEP_WHEN_GRADED)["cells"][2])
    submit(root, "sleeper", sleeper)
    submit(root, "zoe", partial_answers(released))
    _, assignment = course_assignment(cell_timeout_seconds=300)
    settings = GradingSettings(parallelism=1, max_batch=3, masked_paths=(str(tmp_path),))
    work = root / "grading-work"

    async def scenario():
        async with dev_cluster(tmp_path / "devcluster") as cluster:
            grading = asyncio.create_task(
                grade_with_pods(
                    cluster,
                    root,
                    ["ann", "sleeper", "zoe"],
                    settings=settings,
                    assignment=assignment,
                )
            )
            for _ in range(600):  # until the sleeper's grading run reached its sleep
                await asyncio.sleep(0.1)
                progress_files = list(work.glob("*/*/out/1.progress"))
                if progress_files and len(progress_files[0].read_text().splitlines()) >= 3:
                    break
            (pid,) = runner_pids(tmp_path / "devcluster")
            os.kill(pid, signal.SIGKILL)
            return await asyncio.wait_for(grading, 300)

    progress = asyncio.run(scenario())
    assert progress.failed == 0 and progress.done == 3, progress.message()
    assert "sleeper: graded in part: the grading pod stopped" in progress.message()
    graded = scores(root)
    assert graded["ann"] == 10.0 and graded["zoe"] == 7.0
    assert graded["sleeper"] == 1.0  # the sigmoid's test ran before; nothing after counts
    stopped = cell_text(autograded(root, "sleeper")["cells"][5])  # the cell it was in
    assert "This cell was not run: the grading pod stopped while this submission" in stopped
