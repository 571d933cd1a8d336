"""The result format between grading pods and the service: checked, then merged."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursehub.grading.protocol import (
    CellResult,
    ProtocolError,
    check_reply,
    code_cells,
    merge_outputs,
    parse_cells,
    parse_result,
    write_json_atomically,
)

LIMITS = {"cell_timeout": 30, "memory": 512 * 1024**2}
STREAM = {"output_type": "stream", "name": "stdout", "text": "2\n"}


def ok(index: int, *outputs: dict, count: int | None = None) -> dict:
    return {
        "index": index,
        "status": "ok",
        "execution_count": index + 1 if count is None else count,
        "outputs": list(outputs),
    }


def notebook() -> dict:
    """markdown, code, markdown, code, code: code cells at 1, 3 and 4."""
    return new_notebook(
        cells=[
            new_markdown_cell("# Problem 1"),
            new_code_cell("x = 1"),
            new_markdown_cell("Now print it."),
            new_code_cell(["print(", "x + 1)"]),
            new_code_cell("assert x == 1"),
        ]
    )


# ----- code_cells ----------------------------------------------------------------------


def test_code_cells_are_listed_with_their_positions_and_joined_source():
    assert code_cells(notebook()) == [
        {"index": 1, "source": "x = 1"},
        {"index": 3, "source": "print(x + 1)"},
        {"index": 4, "source": "assert x == 1"},
    ]


def test_code_cells_of_a_notebook_without_code():
    assert code_cells(new_notebook(cells=[new_markdown_cell("text")])) == []


# ----- parse_cells ---------------------------------------------------------------------


def test_well_formed_results_are_parsed():
    data = {
        "cells": [
            ok(1),
            ok(3, STREAM),
            {"index": 4, "status": "timeout", "execution_count": None, "outputs": []},
        ]
    }
    assert parse_cells(data, 1000) == [
        CellResult(1, "ok", 2, []),
        CellResult(3, "ok", 4, [STREAM]),
        CellResult(4, "timeout", None, []),
    ]


def test_every_known_status_is_accepted():
    for status in ["ok", "error", "timeout", "crashed", "memory", "skipped"]:
        (result,) = parse_cells({"cells": [{"index": 0, "status": status}]}, 1000)
        assert result.status == status
        assert result.outputs == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"status": "ok", "outputs": []}, "cell result 1: no integer index"),
        ({"index": "3", "status": "ok"}, "cell result 1: no integer index"),
        ("not a dict", "cell result 1: no integer index"),
        ({"index": 3, "status": "passed"}, "cell result 1: unknown status 'passed'"),
        ({"index": 3}, "cell result 1: unknown status None"),
        ({"index": 3, "status": "ok", "outputs": "2\n"}, "cell result 1: outputs are not"),
        (
            {"index": 3, "status": "ok", "outputs": ["2\n"]},
            "cell result 1: output 0: outputs are not",
        ),
        (
            {"index": 3, "status": "ok", "outputs": [{"output_type": "pwned", "text": "x"}]},
            "cell result 1: output 0: outputs are not nbformat outputs",
        ),
        (
            {"index": 3, "status": "ok", "outputs": [{"text": "no type"}]},
            "cell result 1: output 0: outputs are not nbformat outputs",
        ),
        (
            {"index": 3, "status": "crashed", "detail": ["not", "text"]},
            "cell result 1: detail is not text",
        ),
        (
            {"index": 3, "status": "ok", "execution_count": "7"},
            "cell result 1: execution_count is not a whole number",
        ),
        ({"index": True, "status": "ok"}, "cell result 1: no integer index"),
    ],
)
def test_malformed_results_are_refused_naming_the_cell(raw, message):
    with pytest.raises(ProtocolError, match=message.replace("(", r"\(")):
        parse_cells({"cells": [ok(1), raw]}, 1000)


def test_outputs_far_larger_than_the_limit_are_refused():
    big = {"output_type": "stream", "name": "stdout", "text": "y" * (2 * 1000 + 70_000)}
    with pytest.raises(ProtocolError, match="cell result 0: outputs larger than the output"):
        parse_cells({"cells": [ok(1, big)]}, 1000)
    # Up to twice the limit (and some slack for JSON) is fine: the runner's own cap.
    fine = {**big, "text": "y" * 2000}
    assert parse_cells({"cells": [ok(1, fine)]}, 1000)[0].outputs == [fine]


def test_a_long_detail_is_cut():
    raw = {"index": 1, "status": "crashed", "execution_count": None, "detail": "d" * 5000}
    (result,) = parse_cells({"cells": [raw]}, 1000)
    assert result.detail == "d" * 500


def test_no_cells_is_no_results():
    assert parse_cells({}, 1000) == []


# ----- merge_outputs -------------------------------------------------------------------


def test_outputs_go_to_the_cells_by_index():
    results = parse_cells({"cells": [ok(4), ok(1), ok(3, STREAM)]}, 1000)
    merged = merge_outputs(notebook(), results, LIMITS)
    cells = merged["cells"]
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] == 2
    assert cells[3]["outputs"] == [STREAM] and cells[3]["execution_count"] == 4
    assert cells[4]["outputs"] == [] and cells[4]["execution_count"] == 5
    assert "outputs" not in cells[0] and "outputs" not in cells[2]
    nbformat.validate(nbformat.from_dict(merged))


@pytest.mark.parametrize(
    ("status", "detail", "ename", "sentence"),
    [
        (
            "timeout",
            "",
            "CellTimeoutError",
            "This cell did not finish within 30 s and was stopped.",
        ),
        (
            "crashed",
            "killed by SIGSEGV",
            "KernelDied",
            "The Python process died while running this cell (killed by SIGSEGV).",
        ),
        ("memory", "", "MemoryError", "This cell ran out of memory (limit 512 MB)."),
        (
            "skipped",
            "the notebook's time budget of 600 s ran out",
            "CellNotRun",
            "This cell was not run: the notebook's time budget of 600 s ran out.",
        ),
    ],
)
def test_a_cell_that_did_not_finish_gets_a_plain_error(status, detail, ename, sentence):
    partial = {"output_type": "stream", "name": "stdout", "text": "started\n"}
    raw = {"index": 3, "status": status, "outputs": [partial], "detail": detail}
    results = parse_cells({"cells": [ok(1), raw, ok(4)]}, 1000)
    merged = merge_outputs(notebook(), results, LIMITS)
    assert merged["cells"][3]["outputs"] == [
        partial,
        {"output_type": "error", "ename": ename, "evalue": sentence, "traceback": [sentence]},
    ]
    assert merged["cells"][3]["execution_count"] is None
    assert merged["cells"][4]["outputs"] == []
    nbformat.validate(nbformat.from_dict(merged))


def test_a_crash_without_detail_says_so():
    results = [CellResult(1, "crashed", None, [])]
    merged = merge_outputs(notebook(), results, LIMITS)
    error = merged["cells"][1]["outputs"][-1]
    assert error["evalue"] == "The Python process died while running this cell (unknown cause)."


def test_a_missing_cell_result_is_a_skipped_cell():
    merged = merge_outputs(notebook(), parse_cells({"cells": [ok(1)]}, 1000), LIMITS)
    sentence = "This cell was not run: the grading pod returned nothing."
    for index in (3, 4):
        assert merged["cells"][index]["outputs"] == [
            {
                "output_type": "error",
                "ename": "CellNotRun",
                "evalue": sentence,
                "traceback": [sentence],
            }
        ]
        assert merged["cells"][index]["execution_count"] is None


def test_an_error_cell_keeps_the_pods_error_and_gets_no_extra_one():
    error = {
        "output_type": "error",
        "ename": "AssertionError",
        "evalue": "wrong",
        "traceback": ["AssertionError: wrong"],
    }
    raw = {"index": 4, "status": "error", "execution_count": 3, "outputs": [error]}
    merged = merge_outputs(notebook(), parse_cells({"cells": [raw]}, 1000), LIMITS)
    assert merged["cells"][4]["outputs"] == [error]


def test_unknown_keys_are_stripped_from_outputs():
    outputs = [
        {**STREAM, "transient": {"display_id": "x"}, "evil": 1},
        {
            "output_type": "display_data",
            "data": {"text/plain": "p", "application/json": {"a": [1, None]}},
            "metadata": {},
            "execution_count": 9,  # not part of display_data
            "transient": {},
        },
        {
            "output_type": "error",
            "ename": "E",
            "evalue": "v",
            "traceback": ["t"],
            "extra": "x",
        },
    ]
    raw = {"index": 1, "status": "error", "execution_count": 1, "outputs": outputs}
    merged = merge_outputs(notebook(), parse_cells({"cells": [raw]}, 10_000), LIMITS)
    stream, display, error = merged["cells"][1]["outputs"]
    assert stream == {"output_type": "stream", "name": "stdout", "text": "2\n"}
    assert display == {
        "output_type": "display_data",
        "data": {"text/plain": "p", "application/json": {"a": [1, None]}},
        "metadata": {},
    }
    assert error == {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["t"]}
    nbformat.validate(nbformat.from_dict(merged))


@pytest.mark.parametrize(
    ("output", "message"),
    [
        # What the review's forged reply sent: it made merge_outputs raise TypeError.
        ({"output_type": "error", "ename": "E", "evalue": "", "traceback": 5}, "traceback is not"),
        ({"output_type": "error", "ename": 5, "evalue": "", "traceback": []}, "ename is not text"),
        ({"output_type": "error", "ename": "E", "evalue": None}, "evalue is not text"),
        (
            {"output_type": "error", "ename": "E", "evalue": "", "traceback": [1]},
            "traceback is not",
        ),
        ({"output_type": "stream", "name": "stdout", "text": ["a"]}, "text is not text"),
        ({"output_type": "stream", "name": "other", "text": "a"}, "a stream's name is 'other'"),
        ({"output_type": "display_data", "data": "not a dict"}, "data is not a mapping"),
        ({"output_type": "display_data", "data": {"text/plain": 5}}, "data is not a mapping"),
        ({"output_type": "display_data", "data": {}, "metadata": []}, "metadata is not"),
        (
            {"output_type": "execute_result", "data": {}, "metadata": {}, "execution_count": "3"},
            "execution_count is not",
        ),
    ],
)
def test_outputs_of_the_wrong_types_are_refused_naming_the_field(output, message):
    raw = {"index": 1, "status": "ok", "execution_count": 1, "outputs": [output]}
    with pytest.raises(ProtocolError, match=f"cell result 0: output 0: {message}"):
        parse_cells({"cells": [raw]}, 10_000)


def test_a_reply_is_checked_against_its_request():
    good = {"nonce": "n1", "status": "ok", "execution_count": 1, "outputs": [STREAM]}
    assert check_reply(good, "n1", 10_000) == {
        "status": "ok",
        "execution_count": 1,
        "outputs": [STREAM],
    }
    for bad in (
        1,
        [good],
        {**good, "nonce": "other"},
        {**good, "status": "passed"},
        {**good, "execution_count": "x"},
        {**good, "outputs": {"a": 1}},
        {**good, "outputs": [{"output_type": "error", "traceback": 5}]},
        {**good, "outputs": [{**STREAM, "text": "y" * 20_000}]},
    ):
        with pytest.raises(ProtocolError):
            check_reply(bad, "n1", 10_000)


def test_a_result_file_is_checked_notebook_by_notebook():
    data = {
        "key": "alice",
        "notebooks": [
            {"name": "ps1", "cells": [ok(1)], "feedback_cells": [ok(1, STREAM)]},
            {"name": "ps2", "cells": []},
        ],
    }
    parsed = parse_result(data, 1000)
    assert parsed["ps1"].cells == [CellResult(1, "ok", 2, [])]
    assert parsed["ps1"].feedback_cells == [CellResult(1, "ok", 2, [STREAM])]
    assert parsed["ps2"].feedback_cells is None
    for bad in ([], {"notebooks": "x"}, {"notebooks": [{"cells": []}]}, {"notebooks": [5]}):
        with pytest.raises(ProtocolError):
            parse_result(bad, 1000)


def test_the_merged_notebook_is_what_nbgrader_reads(tmp_path):
    results = parse_cells({"cells": [ok(1), ok(3, STREAM), ok(4)]}, 1000)
    merged = merge_outputs(notebook(), results, LIMITS)
    path = tmp_path / "ps1.ipynb"
    nbformat.write(nbformat.from_dict(merged), path)
    again = nbformat.read(path, as_version=4)
    assert again.cells[3].outputs[0].text == "2\n"


# ----- result files --------------------------------------------------------------------


def test_result_files_are_written_whole(tmp_path):
    path = tmp_path / "out" / "0.json"
    write_json_atomically(path, {"key": "a", "notebooks": []})
    write_json_atomically(path, {"key": "b", "notebooks": []})
    assert json.loads(path.read_text()) == {"key": "b", "notebooks": []}
    assert sorted(p.name for p in path.parent.iterdir()) == ["0.json"]  # no temporary left
