"""The grading batch endpoints over HTTP, in the coursehub service's own application (its
whole API, a SQLite database, the repository's catalog; no hub, as a grading pod has none):
what a grading pod, and student code beside it, can get from the service's port."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import re
import tarfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from course_folder import REPO_ROOT
from tornado.httpserver import HTTPServer

from coursehub.dev.processes import free_port
from coursehub.grading.protocol import write_json_atomically
from coursehub.grading.transport import upload_limit
from coursehub.service import api
from coursehub.service.app import make_app
from coursehub.service.context import ServiceContext
from coursehub.service.settings import ServiceSettings

PREFIX = "/services/coursehub/"


class Service:
    """The service's application on a port of its own, its loop in a thread."""

    def __init__(self, data_dir: Path):
        self.port = free_port()
        settings = ServiceSettings.from_environ(
            {
                "COURSEHUB_MODE": "dev",
                "COURSEHUB_SERVICE_DATA_DIR": str(data_dir),
                "COURSEHUB_COURSES_DIR": str(REPO_ROOT / "courses"),
                "COURSEHUB_SERVICE_PORT": str(self.port),
                "JUPYTERHUB_SERVICE_NAME": "coursehub",
                "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
                # No hub answers here: every call with a hub token would fail, none is made.
                "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
            }
        )
        self.context = ServiceContext.create(settings)
        self.tickets = self.context.grading_batches
        self.url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve():
            asyncio.set_event_loop(self.loop)
            app = make_app(self.context)
            self.server = HTTPServer(app, max_body_size=app.settings["max_body_size"])
            self.server.listen(self.port, "127.0.0.1")
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        started.wait(10)

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def request(self, method: str, path: str, token: str | None = None, body: bytes | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture
def service(tmp_path):
    running = Service(tmp_path / "data")
    yield running
    running.stop()


def open_batch(service: Service, folder: Path, name: str, submissions: int = 2) -> str:
    write_json_atomically(folder / "in" / "batch.json", {"submissions": ["ann", "bob"]})
    for index in range(submissions):
        (folder / "in" / str(index) / "files").mkdir(parents=True)
        write_json_atomically(folder / "in" / str(index) / "cells.json", {"key": name})
    (folder / "out").mkdir()
    return service.tickets.open(
        name, folder, submissions=submissions, cells=3, max_output=1024, lifetime_seconds=600
    )


def result(key: str = "ann") -> bytes:
    return json.dumps({"key": key, "sandbox": "users", "notebooks": []}).encode()


def message(body: bytes) -> str:
    return json.loads(body)["message"]


def test_a_pod_fetches_its_inputs_and_posts_its_results(service, tmp_path):
    folder = tmp_path / "batch"
    token = open_batch(service, folder, "job1-0")
    status, data = service.request("GET", "api/grading/batches/job1-0/inputs", token)
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as archive:
        assert sorted(archive.getnames()) == [
            "0/cells.json",
            "1/cells.json",
            "batch.json",
        ]
    status, _ = service.request("POST", "api/grading/batches/job1-0/results/1", token, result())
    assert status == 201
    assert json.loads((folder / "out" / "1.json").read_text())["key"] == "ann"
    line = json.dumps({"notebook": "ps1", "cell": {"index": 1}}).encode()
    assert service.request("POST", "api/grading/batches/job1-0/progress/0", token, line)[0] == 201
    assert (folder / "out" / "0.progress").read_text() == line.decode() + "\n"
    refused = json.dumps({"reason": "no SETUID"}).encode()
    assert service.request("POST", "api/grading/batches/job1-0/refused", token, refused)[0] == 201
    assert json.loads((folder / "out" / "refused.json").read_text()) == {"reason": "no SETUID"}


def test_a_result_is_posted_once(service, tmp_path):
    folder = tmp_path / "batch"
    token = open_batch(service, folder, "job1-0")
    path = "api/grading/batches/job1-0/results/0"
    assert service.request("POST", path, token, result("ann"))[0] == 201
    status, body = service.request("POST", path, token, result("mallory"))
    assert status == 409 and "has its result already" in message(body)
    assert json.loads((folder / "out" / "0.json").read_text())["key"] == "ann"
    # Nor can progress be added to a finished submission.
    status, _ = service.request("POST", "api/grading/batches/job1-0/progress/0", token, b"{}")
    assert status == 409


def test_another_batchs_inputs_and_results_are_out_of_reach(service, tmp_path):
    """Say a submission's code got hold of its own batch's token: it still reaches nothing
    of another batch (another course's or student's), and a guessed token reaches nothing."""
    mine = open_batch(service, tmp_path / "mine", "job1-0")
    open_batch(service, tmp_path / "theirs", "job2-0")
    for token in (mine, "A" * 43, "Bearer", "../job2-0"):
        status, body = service.request("GET", "api/grading/batches/job2-0/inputs", token)
        assert status == 403, token
        assert "not good for grading batch 'job2-0'" in message(body)
        status, _ = service.request("POST", "api/grading/batches/job2-0/results/0", token, result())
        assert status == 403
    assert not (tmp_path / "theirs" / "out" / "0.json").exists()
    # Climbing out of the batch in the path is not a batch either.
    status, _ = service.request("GET", "api/grading/batches/..%2Fjob2-0/inputs", mine)
    assert status in (403, 404)


def test_a_token_replayed_after_its_batch_ended_is_refused(service, tmp_path):
    folder = tmp_path / "batch"
    token = open_batch(service, folder, "job1-0")
    assert service.request("GET", "api/grading/batches/job1-0/inputs", token)[0] == 200
    service.tickets.close("job1-0")  # what dispatch does when the pod ends
    status, body = service.request("GET", "api/grading/batches/job1-0/inputs", token)
    assert status == 403 and "the batch has ended" in message(body)
    status, _ = service.request("POST", "api/grading/batches/job1-0/results/0", token, result())
    assert status == 403
    assert not (folder / "out" / "0.json").exists()


def test_oversized_and_garbled_results_are_refused_and_stored_nowhere(service, tmp_path):
    folder = tmp_path / "batch"
    token = open_batch(service, folder, "job1-0")
    path = "api/grading/batches/job1-0/results/0"
    limit = upload_limit("results", 1024, 3)
    oversized = json.dumps({"key": "x" * limit}).encode()
    status, body = service.request("POST", path, token, oversized)
    assert status == 413 and f"at most {limit}" in message(body)
    for garbled in (b"{not json", b"[]", b"\xff\xfe\x00"):
        status, body = service.request("POST", path, token, garbled)
        assert status == 400 and "results upload" in message(body)
    status, body = service.request("POST", "api/grading/batches/job1-0/results/2", token, result())
    assert status == 404 and "there is no submission '2'" in message(body)
    assert sorted(p.name for p in (folder / "out").iterdir()) == []
    # The refused ones did not use up the submission's one result.
    assert service.request("POST", path, token, result())[0] == 201


def _every_api_path() -> list[str]:
    paths = []
    for pattern, _handler in api.default_handlers:
        path = pattern.replace("([^/]+)", "x")
        if re.search(r"[()\[\]\\*+?$^]", path):
            continue  # a pattern with other groups: none of coursehub's today
        paths.append(path)
    return paths


def test_student_code_on_the_services_port_gets_401_or_403_everywhere(service, tmp_path):
    """What grading pods' egress allows student code: the service's port, without any
    token (hub or batch). Every API endpoint, read or write, refuses it."""
    open_batch(service, tmp_path / "batch", "x")
    paths = _every_api_path()
    assert any(path.startswith("api/grading/batches/") for path in paths)
    assert len(paths) > 15
    for path in paths:
        if path in ("api/health", "lti/jwks"):
            continue  # public by design: the readiness probe, and the tool's public keys
        for method, body in (("GET", None), ("POST", b"{}"), ("PUT", b"{}"), ("DELETE", None)):
            status, _ = service.request(method, path, None, body)
            # 405: a method the endpoint does not have (the metrics scrape answers only GET).
            assert status in (401, 403, 405), (method, path, status)
            status, _ = service.request(method, path, "A" * 43, body)
            if path.startswith("api/grading/batches/"):
                assert status == 403, (method, path, status)
