"""The pure parts of coursehub's extension in a formgrader: which request paths it refuses as
climbing out of their folder, which responses carry the sandboxing policy, and the kernel
manager and specs that start and offer nothing. (Through a real hub and formgrader:
tests/integration/test_formgrader_security.py.)"""

from __future__ import annotations

import re

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.web import HTTPError

from coursehub.formgrader.extension import CLIMBING, SANDBOX_POLICY, sandbox_submitted_files
from coursehub.formgrader.kernels import NO_CODE, NoKernels, NoKernelSpecs

BASE = "/services/grader-ai-101/"
CLIMBS = re.compile(re.escape(BASE) + CLIMBING + "$")  # as Tornado compiles a handler path


@pytest.mark.parametrize(
    "path",
    [
        "api/contents/..%2Fml-201%2Fgradebook.db",
        "api/contents/%2E%2E/ml-201/gradebook.db",
        "api/contents/%2e%2e",
        "api/contents/../ml-201",
        "%2E%2E/x",
        "api/contents/source/./ps1",
        "formgrader/api/assignment/..%2f..%2fml-201%2fsource%2flab1/assign",
        "formgrader/api/submission/ps1/a%5Cb/autograde",
        "files/source/ps1%00.txt",
    ],
)
def test_paths_that_climb_are_refused(path):
    assert CLIMBS.match(BASE + path)


@pytest.mark.parametrize(
    "path",
    [
        "formgrader",
        "formgrader/submissions/3f2a/",
        "api/contents/source/ps1/..notes.txt",
        "api/contents/source/ps1/data.v2/x.csv",
        "api/contents/source/ps1/x%20y.ipynb",
        "tree/source",
    ],
)
def test_ordinary_paths_pass(path):
    assert not CLIMBS.match(BASE + path)


def headers_for(path: str) -> HTTPHeaders:
    start = RequestStartLine("GET", BASE + path, "HTTP/1.1")
    request = HTTPServerRequest(start_line=start, headers=HTTPHeaders({"Host": "hub"}))
    transform = sandbox_submitted_files(BASE)(request)
    headers = HTTPHeaders({"Content-Security-Policy": "frame-ancestors 'none'"})
    status, headers, chunk = transform.transform_first_chunk(200, headers, b"x", True)
    assert (status, chunk) == (200, b"x")
    return headers


@pytest.mark.parametrize(
    "path",
    [
        "formgrader/submissions/3f2a/notes.html",
        "formgrader/submissions/3f2a/data/plot.svg",
        "formgrader/submissions/3f2a/nextpage.html",
    ],
)
def test_students_files_are_sandboxed(path):
    assert headers_for(path)["Content-Security-Policy"] == SANDBOX_POLICY
    assert SANDBOX_POLICY.startswith("sandbox;")  # and no allow-scripts


@pytest.mark.parametrize(
    "path",
    [
        "formgrader/submissions/3f2a/",  # the grading view: nbgrader's scripts run
        "formgrader/submissions/3f2a/next",
        "formgrader/submissions/3f2a/prev_incorrect",
        "formgrader/submissions/components/jquery.js",
        "formgrader/manage_assignments",
        "tree/source/formgrader/submissions/3f2a/notes.html",  # a folder staff named so
    ],
)
def test_the_formgraders_own_pages_keep_their_policy(path):
    assert headers_for(path)["Content-Security-Policy"] == "frame-ancestors 'none'"


async def test_no_kernel_starts_and_none_is_offered():
    with pytest.raises(HTTPError) as refused:
        await NoKernels().start_kernel(kernel_name="python3")
    assert refused.value.status_code == 403 and refused.value.log_message == NO_CODE
    specs = NoKernelSpecs()
    assert specs.find_kernel_specs() == {} and specs.get_all_specs() == {}
