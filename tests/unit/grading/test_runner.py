"""The grading runner against hostile submissions, as a subprocess: ``python -m
coursehub.grading.runner FOLDER``.

One batch holds a battery of submissions, each trying one thing in its first cell of a
notebook whose later cells are ``x = 1`` and ``print(x + 1)``: every test checks that the
hostile cell got the expected status and that those later cells still ran (``2``), and a
well-behaved submission graded last checks that the others did not affect it.

The folders a submission must not reach (the batch itself, a masked folder, a file to
delete) are made world-readable on purpose, so only the sandbox (a user per submission,
the mount and network namespaces) stands between them and the student code. The full
sandbox needs root, as in the dev cluster and CI.
"""

from __future__ import annotations

import ast
import json
import shutil
import socket

import pytest
from runner_batches import (
    LATER,
    LIMITS,
    MAX_OUTPUT,
    assert_later_cells_ran,
    attempts,
    processes_of,
    random_uid_base,
    run_batch,
    text_of,
    world_readable_folder,
    write_batch,
)

from coursehub.grading.protocol import merge_outputs, parse_cells

SECRET = "top-secret-0451"  # in every file the submissions must not read


# ----- the battery ---------------------------------------------------------------------

OTHER_SUBMISSION = 1  # the reader is submission 0: this one's folder is ready meanwhile


FORGED_FRAMES = """\
import os, json, struct
for nonce in ['0' * 16, '', None]:
    body = json.dumps({'status': 'ok', 'execution_count': 1, 'nonce': nonce,
                       'outputs': [{'output_type': 'stream', 'name': 'stdout', 'text': 'forged'}]})
    os.write(4, struct.pack('>I', len(body)) + body.encode())
"""

FORK_BOMB = """\
import os, time
for _ in range(300):  # bounded, should the process limit ever be missing
    if os.fork() == 0:
        os.setsid()  # detached: only a kill by uid reaches it
        time.sleep(60)
"""

OUTPUT_FLOOD = """\
import os
for _ in range(100):
    print('y' * 1024**2)
os.write(1, b'z' * 1024**2)  # fd-level output goes nowhere
"""

ENVIRONMENT = """\
import os
print(sorted(os.environ))
print(open(f'/proc/{os.getppid()}/environ').read())
"""

FAKED_RUNS = """\
get_ipython().run = lambda source: {'status': 'ok', 'execution_count': 1, 'outputs': []}
"""


def battery_submissions(paths: dict) -> dict[str, dict]:
    """name -> submission; the order is the submissions' order in the batch."""
    batch, masked, outside = paths["batch"], paths["masked"], paths["outside"]
    port = paths["port"]
    return {
        "other_reader": {
            "cells": [
                attempts(
                    f"open('../{OTHER_SUBMISSION}/secret.txt').read()",
                    f"os.listdir('../{OTHER_SUBMISSION}')",
                    "os.listdir('..')",
                ),
                *LATER,
            ]
        },
        "other": {
            "cells": ["print(open('secret.txt').read())", *LATER],
            "files": {"secret.txt": SECRET},
        },
        "infinite_loop": {"cells": ["while True:\n    pass", *LATER]},
        "memory_bomb": {
            "cells": ["hog = []\nwhile True:\n    hog.append(bytearray(10 * 1024**2))", *LATER]
        },
        "fork_bomb": {"cells": [FORK_BOMB, *LATER]},
        "output_flood": {"cells": [OUTPUT_FLOOD, *LATER]},
        "read_outside": {
            "cells": [
                attempts(
                    f"open('{batch}/in/batch.json').read()",
                    f"open('{batch}/in/{OTHER_SUBMISSION}/files/secret.txt').read()",
                    f"os.listdir('{batch}/in')",
                    f"open('{masked}/secret.txt').read()",
                    f"os.listdir('{masked}')",
                ),
                *LATER,
            ]
        },
        "environment": {"cells": [ENVIRONMENT, *LATER]},
        "network": {
            "cells": [
                f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)",
                *LATER,
            ]
        },
        "delete_outside": {
            "cells": [
                attempts(f"os.remove('{outside}/keep.txt')", f"os.rename('{outside}', '/tmp/x')"),
                *LATER,
            ]
        },
        "crash": {
            "cells": [
                "y = 41",
                "import os\nos.kill(os.getpid(), 9)",
                "x = 1",
                "print(x + 1, y + 1)",
            ]
        },
        "forged_frames": {
            "cells": [FORGED_FRAMES, *LATER, "assert x == 2, 'the test ran'"],
        },
        "huge_frame": {
            "cells": [
                "import os\nos.write(4, b'\\xff\\xff\\xff\\xff' + b'{' * 100)",
                *LATER,
                "assert x == 2, 'the test ran'",
            ],
        },
        "faked_runs": {
            "cells": [FAKED_RUNS, *LATER, "assert x == 2, 'the test ran'"],
        },
        "well_behaved": {
            "cells": [
                "x = 1",
                "print(x + 1)",
                "print(open('data.txt').read())",
                "x + 41",
            ],
            "files": {"data.txt": "course data"},
        },
    }


@pytest.fixture(scope="module")
def battery():
    batch = world_readable_folder("coursehub-grading-batch-")
    outside = world_readable_folder("coursehub-grading-outside-")
    masked = outside / "masked"
    masked.mkdir(mode=0o755)
    masked.chmod(0o755)
    (masked / "secret.txt").write_text(SECRET)
    (masked / "secret.txt").chmod(0o644)
    (outside / "keep.txt").write_text("keep me")
    (outside / "keep.txt").chmod(0o644)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    uid_base = random_uid_base()
    try:
        paths = {
            "batch": batch,
            "masked": masked,
            "outside": outside,
            "port": listener.getsockname()[1],
        }
        submissions = battery_submissions(paths)
        names = list(submissions)
        write_batch(batch, list(submissions.values()), LIMITS, uid_base, masked_paths=[str(masked)])
        secrets_env = {
            "FAKE_TOKEN": "secret",
            "JUPYTERHUB_API_TOKEN": "secret",
            "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        }
        results, stdout = run_batch(batch, secrets_env)
        try:
            connection, _ = listener.accept()
            connection.close()
            connected = True
        except BlockingIOError:
            connected = False
        yield {
            "results": {name: results.get(index) for index, name in enumerate(names)},
            "uids": {name: uid_base + index for index, name in enumerate(names)},
            "paths": paths,
            "stdout": stdout,
            "connected": connected,
            "batch": batch,
        }
    finally:
        listener.close()
        shutil.rmtree(batch, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


def cells_of(battery: dict, name: str) -> list[dict]:
    result = battery["results"][name]
    assert result is not None, f"no result file for {name}"
    assert result["key"] == f"student-{list(battery['results']).index(name)}"
    (notebook,) = result["notebooks"]
    return notebook["cells"]


# ----- the tests -----------------------------------------------------------------------


def test_every_submission_has_a_result_and_progress_is_reported(battery):
    assert all(result is not None for result in battery["results"].values())
    lines = [json.loads(line) for line in battery["stdout"].splitlines()]
    assert lines[0]["of"] == len(battery["results"])
    assert "a user per submission" in lines[0]["sandbox"]
    assert "no network" in lines[0]["sandbox"]
    assert [line["done"] for line in lines[1:]] == list(range(1, len(battery["results"]) + 1))


def test_a_well_behaved_submission_after_the_hostile_ones_is_unaffected(battery):
    cells = cells_of(battery, "well_behaved")
    assert [cell["status"] for cell in cells] == ["ok"] * 4
    assert [cell["execution_count"] for cell in cells] == [1, 2, 3, 4]
    assert text_of(cells[1]) == "2\n"
    assert text_of(cells[2]) == "course data\n"
    assert cells[3]["outputs"] == [
        {
            "output_type": "execute_result",
            "data": {"text/plain": "42"},
            "metadata": {},
            "execution_count": 4,
        }
    ]


def test_an_infinite_loop_times_out_and_the_notebook_goes_on(battery):
    cells = cells_of(battery, "infinite_loop")
    assert cells[0]["status"] == "timeout"
    assert_later_cells_ran(cells)
    notebook = {"cells": [{"cell_type": "code", "source": "", "outputs": []} for _ in cells]}
    merged = merge_outputs(notebook, parse_cells({"cells": cells}, MAX_OUTPUT), LIMITS)
    error = merged["cells"][0]["outputs"][-1]
    assert error["ename"] == "CellTimeoutError"
    assert error["evalue"] == "This cell did not finish within 2 s and was stopped."
    # A timed-out cell costs its limit, not more.
    assert battery["results"]["infinite_loop"]["notebooks"][0]["seconds"] < 2 + 3


def test_a_memory_bomb_is_reported_as_memory_and_the_notebook_goes_on(battery):
    cells = cells_of(battery, "memory_bomb")
    assert cells[0]["status"] == "memory"
    assert [o.get("ename") for o in cells[0]["outputs"]] == ["MemoryError"]
    assert_later_cells_ran(cells)


def test_a_fork_bomb_is_contained_and_leaves_no_process(battery):
    cells = cells_of(battery, "fork_bomb")
    assert cells[0]["status"] in {"error", "crashed"}
    if cells[0]["status"] == "error":
        assert cells[0]["outputs"][-1]["ename"] == "BlockingIOError"  # RLIMIT_NPROC
    assert_later_cells_ran(cells)
    for name, uid in battery["uids"].items():
        assert processes_of(uid) == [], f"{name} left processes behind"


def test_a_flood_of_output_is_capped(battery):
    cells = cells_of(battery, "output_flood")
    assert cells[0]["status"] == "ok"
    text = text_of(cells[0])
    kept, note = text.rstrip("\n").rsplit("\n", 1)
    assert kept == "y" * len(kept)  # the first MB alone is past the cap
    assert MAX_OUTPUT - 1024 <= len(kept) <= MAX_OUTPUT
    assert note.startswith("[output truncated")
    assert text.count("[output truncated") == 1
    assert "z" not in json.dumps(cells)
    result_file = (
        battery["batch"] / "out" / f"{list(battery['results']).index('output_flood')}.json"
    )
    assert result_file.stat().st_size < 2 * MAX_OUTPUT
    assert_later_cells_ran(cells)


def test_files_outside_the_submission_cannot_be_read(battery):
    cells = cells_of(battery, "read_outside")
    assert cells[0]["status"] == "ok"
    seen = text_of(cells[0])
    # The batch (all submissions' cells, the hidden tests) and the masked folder are
    # world-readable here: the namespace's masks and the user keep them out of reach.
    assert seen == str(["PermissionError"] * 5) + "\n"
    assert SECRET not in json.dumps(cells)
    assert_later_cells_ran(cells)
    assert (battery["paths"]["masked"] / "secret.txt").read_text() == SECRET  # still there


def test_another_submissions_folder_cannot_be_read(battery):
    other = cells_of(battery, "other")
    assert text_of(other[0]) == SECRET + "\n"  # the file was there, for its owner
    assert_later_cells_ran(other)
    cells = cells_of(battery, "other_reader")
    assert cells[0]["status"] == "ok"
    assert text_of(cells[0]) == str(["PermissionError"] * 3) + "\n"
    assert_later_cells_ran(cells)


def test_the_environment_holds_no_tokens(battery):
    cells = cells_of(battery, "environment")
    assert cells[0]["status"] == "error"
    names = ast.literal_eval(text_of(cells[0]))
    assert "FAKE_TOKEN" not in names
    assert not [n for n in names if n.startswith(("JUPYTERHUB_", "KUBERNETES_"))]
    assert "HOME" in names and "PATH" in names
    # Nor can it read the runner's environment through /proc.
    # hidepid: the runner is not even visible to it where the pod may mount a /proc of its own
    assert cells[0]["outputs"][-1]["ename"] in {"PermissionError", "FileNotFoundError"}
    assert "secret" not in json.dumps(cells)
    assert_later_cells_ran(cells)


def test_there_is_no_network(battery):
    cells = cells_of(battery, "network")
    assert cells[0]["status"] == "error"
    assert cells[0]["outputs"][-1]["ename"] in {"OSError", "ConnectionRefusedError"}
    assert not battery["connected"], "the submission reached the test's listening socket"
    assert_later_cells_ran(cells)


def test_files_outside_cannot_be_deleted(battery):
    cells = cells_of(battery, "delete_outside")
    assert text_of(cells[0]) == "['PermissionError', 'PermissionError']\n"
    assert (battery["paths"]["outside"] / "keep.txt").read_text() == "keep me"
    assert_later_cells_ran(cells)


def test_a_crash_is_reported_and_the_notebook_resumes_after_replay(battery):
    cells = cells_of(battery, "crash")
    assert cells[0]["status"] == "ok"
    assert cells[1]["status"] == "crashed"
    assert "SIGKILL" in cells[1]["detail"]
    assert cells[2]["status"] == "ok"
    # y came back from replaying the first cell in the new process.
    assert text_of(cells[3]) == "2 42\n"


@pytest.mark.parametrize("name", ["forged_frames", "huge_frame"])
def test_frames_forged_on_the_result_channel_are_not_taken_as_results(battery, name):
    cells = cells_of(battery, name)
    assert cells[0]["status"] == "crashed"
    assert "forged" not in json.dumps(cells)
    assert_later_cells_ran(cells)
    test_cell = cells[3]
    assert test_cell["status"] == "error"  # it ran: x is 1, the assertion failed
    assert test_cell["outputs"][-1]["ename"] == "AssertionError"
    assert test_cell["outputs"][-1]["evalue"] == "the test ran"


# ----- the notebook's time budget ------------------------------------------------------


def test_cells_past_the_notebooks_time_budget_are_skipped(tmp_path):
    limits = {**LIMITS, "notebook_timeout": 1}
    submissions = [
        {"cells": ["import time\ntime.sleep(0.7)", "time.sleep(0.7)", *LATER]},
        {"cells": ["import time\ntime.sleep(0.5)", *LATER]},  # its own budget
    ]
    write_batch(tmp_path, submissions, limits, random_uid_base())
    results, _ = run_batch(tmp_path)
    cells = results[0]["notebooks"][0]["cells"]
    assert [cell["status"] for cell in cells] == ["ok", "timeout", "skipped", "skipped"]
    assert cells[2]["detail"] == "the notebook's time budget of 1 s ran out"
    notebook = {"cells": [{"cell_type": "code", "source": "", "outputs": []} for _ in cells]}
    merged = merge_outputs(notebook, parse_cells({"cells": cells}, MAX_OUTPUT), limits)
    assert merged["cells"][3]["outputs"] == [
        {
            "output_type": "error",
            "ename": "CellNotRun",
            "evalue": "This cell was not run: the notebook's time budget of 1 s ran out.",
            "traceback": ["This cell was not run: the notebook's time budget of 1 s ran out."],
        }
    ]
    other = results[1]["notebooks"][0]["cells"]
    assert [cell["status"] for cell in other] == ["ok", "ok", "ok"]
    assert text_of(other[2]) == "2\n"
