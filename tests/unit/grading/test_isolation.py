"""What one submission can learn of, or do to, the others in its grading pod: nothing.

Each submission's code runs in a process that holds nothing of any other submission, of
hidden tests it is not being graded on, or of earlier outputs: not in memory (``gc``,
``/proc/self/mem``), not on disk (``/tmp``, ``/dev/shm``, SysV shared memory), not on an
inherited file descriptor. A submission that writes garbage or forged replies to the
grader's channel, or fills the disk, gets a plain error for what it broke, and every
other submission in the pod is graded as if it were alone.

The same attacks run twice: in the dev cluster's sandbox (the runner may create
namespaces) and as a production grading pod runs (no ``CAP_SYS_ADMIN``: a user per
submission, no namespaces; see ``runner_batches.production_pod_argv``). Without the
capabilities to give each submission a user of its own, the runner refuses to run any
student code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from runner_batches import (
    LATER,
    LIMITS,
    assert_later_cells_ran,
    processes_of,
    random_uid_base,
    run_batch,
    text_of,
    world_readable_folder,
    write_batch,
)

from coursehub.grading.protocol import merge_outputs, parse_cells

# Markers: built with "+" in the attacking cells, so an attacker's own source never matches.
ALICE_ANSWER = "ALICE" + "_ANSWER_7731"
ALICE_OUTPUT = "ALICE" + "_OUTPUT_7732"
HIDDEN_LATER = "MALLORY" + "_HIDDEN_7733"
LEFTOVER = "LEFT" + "OVER_7734"
DISK_LIMIT = 30 * 1024**2

# The searches hold each marker in two halves and look for the first half followed by the
# second: the whole marker is never in the attacker's own memory unless it leaked there.
FIND_IN_GC = """\
import gc
halves = [('ALICE_AN', 'SWER_7731'), ('ALICE_OU', 'TPUT_7732'), ('MALLORY_', 'HIDDEN_7733')]
found = set()
for o in gc.get_objects():
    try:
        if isinstance(o, dict):
            items = list(o.values())
        elif isinstance(o, (list, tuple)):
            items = list(o)
        else:
            items = list(vars(o).values())
    except Exception:
        continue
    for v in items:
        if not isinstance(v, str):
            continue
        for head, tail in halves:
            at = v.find(head)
            if at >= 0 and v[at + len(head):at + len(head) + len(tail)] == tail:
                found.add(head)
print('gc:', sorted(found))
"""

FIND_IN_MEMORY = """\
import ctypes
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: its own /proc/self/mem
halves = [(b'ALICE_AN', b'SWER_7731'), (b'ALICE_OU', b'TPUT_7732'), (b'MALLORY_', b'HIDDEN_7733')]
found = set()
with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:
    for line in maps:
        span, perms = line.split()[:2]
        start, end = (int(x, 16) for x in span.split('-'))
        if 'r' not in perms or end - start > 512 * 1024**2:
            continue
        try:
            mem.seek(start)
            chunk = mem.read(end - start)
        except (OSError, ValueError, OverflowError):
            continue
        for head, tail in halves:
            at = chunk.find(head)
            while at >= 0:
                if chunk[at + len(head):at + len(head) + len(tail)] == tail:
                    found.add(head.decode())
                at = chunk.find(head, at + 1)
print('mem:', sorted(found))
"""

OPEN_FDS = """\
import os
fds = {}
for name in os.listdir('/proc/self/fd'):
    try:
        fds[int(name)] = os.readlink(f'/proc/self/fd/{name}')
    except OSError:
        pass
print('fds:', sorted(fd for fd, target in fds.items() if fd > 4 and 'proc' not in target))
"""

MALFORMED_FRAME = "import os, struct\nos.write(4, struct.pack('>I', 1) + b'1')"

# Takes over the request channel: the shell now waits on a pipe nobody writes to, and a
# thread answers every later request itself, with a well-formed frame of wrong types.
FORGED_TYPES = """\
import os, threading, json, struct
real = os.dup(3)
r, w = os.pipe()
os.dup2(r, 3)
def forge():
    while True:
        header = os.read(real, 4)
        if len(header) < 4:
            return
        size = struct.unpack('>I', header)[0]
        body = b''
        while len(body) < size:
            body += os.read(real, size - len(body))
        nonce = json.loads(body)['nonce']
        reply = json.dumps({'status': 'ok', 'execution_count': 'x', 'nonce': nonce,
                            'outputs': [{'output_type': 'error', 'ename': 1, 'evalue': None,
                                         'traceback': 5}]}).encode()
        os.write(4, struct.pack('>I', len(reply)) + reply)
threading.Thread(target=forge, daemon=True).start()
"""

FILL_DISK = """\
import os, tempfile
block = b'x' * 1024**2
for where in (tempfile.gettempdir(), os.getcwd(), '/dev/shm'):
    for number in range(20):
        try:
            with open(os.path.join(where, f'fill-{os.getpid()}-{number}'), 'wb') as f:
                for _ in range(10):
                    f.write(block)
        except OSError:
            break
print('written')
"""

LEAVE_BEHIND = """\
import ctypes, os
secret = 'LEFT' + 'OVER_7734'
for folder in ('/tmp', '/dev/shm'):
    try:
        path = os.path.join(folder, 'coursehub-leftover-{}'.format(os.getuid() % 1000))
        with open(path, 'w') as f:
            f.write(secret)
        os.chmod(path, 0o644)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
segment = libc.shmget(0x7734, 4096, 0o1000 | 0o666)
if segment >= 0:
    address = libc.shmat(segment, None, 0)
    ctypes.memmove(address, secret.encode(), len(secret))
"""

PICK_UP = """\
import ctypes, glob, os
seen = []
for path in glob.glob('/tmp/coursehub-leftover-*') + glob.glob('/dev/shm/coursehub-leftover-*'):
    try:
        seen.append(open(path).read())
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
segment = libc.shmget(0x7734, 0, 0)
if segment >= 0:
    address = libc.shmat(segment, None, 0o10000)
    if address not in (None, ctypes.c_void_p(-1).value):
        seen.append(ctypes.string_at(address, 11).decode(errors='replace'))
print('picked up:', seen)
"""


def battery() -> dict[str, dict]:
    """name -> submission, in batch order: alice first, the readers after her."""
    return {
        "alice": {
            "cells": [f"answer = {ALICE_ANSWER!r}", f"print({ALICE_OUTPUT!r})", *LATER],
        },
        "leave_behind": {"cells": [LEAVE_BEHIND, *LATER]},
        "mallory_gc": {
            "cells": [FIND_IN_GC, *LATER, {"source": f"assert '{HIDDEN_LATER}'"}],
        },
        "mallory_memory": {
            "cells": [FIND_IN_MEMORY, *LATER, {"source": f"assert '{HIDDEN_LATER}'"}],
        },
        "mallory_fds": {"cells": [OPEN_FDS, *LATER]},
        "pick_up": {"cells": [PICK_UP, *LATER]},
        "malformed_frame": {"cells": [MALFORMED_FRAME, *LATER]},
        "forged_types": {"cells": [FORGED_TYPES, *LATER]},
        "fill_disk": {"cells": [FILL_DISK, *LATER]},
        "well_behaved": {
            "cells": ["x = 1", "print(x + 1)", "print(open('data.txt').read())"],
            "files": {"data.txt": "course data"},
        },
    }


def run_battery(sandbox: str):
    batch = world_readable_folder("coursehub-isolation-")
    uid_base = random_uid_base()
    try:
        submissions = battery()
        names = list(submissions)
        write_batch(
            batch,
            list(submissions.values()),
            {**LIMITS, "disk": DISK_LIMIT},
            uid_base,
        )
        results, stdout = run_batch(batch, sandbox=sandbox)
        return {
            "results": {name: results.get(index) for index, name in enumerate(names)},
            "uids": {name: uid_base + index for index, name in enumerate(names)},
            "stdout": stdout,
            "stderr": results["stderr"],
        }
    finally:
        shutil.rmtree(batch, ignore_errors=True)
        for folder in ("/tmp", "/dev/shm"):
            for name in os.listdir(folder):
                if name.startswith(("coursehub-leftover-", "fill-")):
                    path = os.path.join(folder, name)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        subprocess.run(["ipcrm", "-M", str(0x7734)], capture_output=True, check=False)


@pytest.fixture(scope="module", params=["namespaces", "users"])
def run(request):
    return run_battery(request.param)


def cells_of(run: dict, name: str) -> list[dict]:
    result = run["results"][name]
    assert result is not None, f"no result for {name}: {run['stderr'][-3000:]}"
    (notebook,) = result["notebooks"]
    return notebook["cells"]


def merged(cells: list[dict]) -> dict:
    """What the service makes of a notebook's results (raises on anything unusable)."""
    notebook = {"cells": [{"cell_type": "code", "source": "", "outputs": []} for _ in cells]}
    return merge_outputs(notebook, parse_cells({"cells": cells}, 10**6), LIMITS)


def test_every_submission_is_graded_and_usable(run):
    for name in run["results"]:
        merged(cells_of(run, name))


def test_no_other_submission_nor_a_later_hidden_test_is_in_memory(run):
    for name in ("mallory_gc", "mallory_memory"):
        cells = cells_of(run, name)
        assert cells[0]["status"] == "ok", cells[0]
        seen = text_of(cells[0])
        assert seen.endswith(": []\n"), seen
        assert_later_cells_ran(cells)


def test_no_file_descriptor_of_the_grader_or_another_submission_is_inherited(run):
    cells = cells_of(run, "mallory_fds")
    assert text_of(cells[0]) == "fds: []\n"


def test_nothing_left_in_tmp_or_shared_memory_reaches_the_next_submission(run):
    assert cells_of(run, "leave_behind")[0]["status"] == "ok"
    cells = cells_of(run, "pick_up")
    assert text_of(cells[0]) == "picked up: []\n", text_of(cells[0])
    assert LEFTOVER not in json.dumps(run["results"]["pick_up"])


def test_a_malformed_frame_costs_only_its_own_cell(run):
    cells = cells_of(run, "malformed_frame")
    assert cells[0]["status"] == "crashed"
    assert "grader's channel" in cells[0]["detail"]
    assert_later_cells_ran(cells)


def test_a_forged_reply_of_wrong_types_is_refused_by_the_runner(run):
    cells = cells_of(run, "forged_types")
    assert cells[0]["status"] == "ok"
    later = cells[1:]
    assert all(cell["status"] in {"crashed", "skipped"} for cell in later), later
    assert any("grader's channel" in cell.get("detail", "") for cell in later)


def test_filling_the_disk_stops_that_submission_only_and_its_files_go(run):
    cells = cells_of(run, "fill_disk")
    assert cells[0]["status"] == "crashed", cells[0]
    assert "disk" in cells[0]["detail"]
    assert_later_cells_ran(cells)
    uid = run["uids"]["fill_disk"]
    for folder in ("/tmp", "/dev/shm"):
        assert not [n for n in os.listdir(folder) if os.lstat(f"{folder}/{n}").st_uid == uid]


def test_the_well_behaved_submission_is_graded_as_if_alone(run):
    cells = cells_of(run, "well_behaved")
    assert [cell["status"] for cell in cells] == ["ok"] * 3
    assert text_of(cells[1]) == "2\n"
    assert text_of(cells[2]) == "course data\n"


def test_no_process_of_any_submission_is_left(run):
    for name, uid in run["uids"].items():
        assert processes_of(uid) == [], f"{name} left processes behind"


def test_the_pod_reports_its_sandbox(run):
    first = json.loads(run["stdout"].splitlines()[0])
    assert "a user per submission" in first["sandbox"]


# ----- where the runner may not confine student code, it refuses ------------------------


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"capabilities": []}, id="root-without-setuid"),
        pytest.param({"user": 65534}, id="not-root"),
    ],
)
def test_without_a_user_per_submission_no_student_code_runs(tmp_path, how):
    marker = tmp_path / "ran"
    tmp_path.chmod(0o777)
    batch = world_readable_folder("coursehub-refuse-")
    try:
        write_batch(
            batch,
            [{"cells": [f"open({str(marker)!r}, 'w').write('ran')", *LATER]}],
            LIMITS,
            random_uid_base(),
        )
        (batch / "out").mkdir(mode=0o777)
        (batch / "out").chmod(0o777)
        results, _ = run_batch(batch, expect_returncode=3, **how)
        assert not marker.exists(), "student code ran without a user of its own"
        refusal = json.loads((batch / "out" / "refused.json").read_text())
        assert "refus" in refusal["reason"] and "user of its own" in refusal["reason"]
        assert 0 not in results
    finally:
        shutil.rmtree(batch, ignore_errors=True)
