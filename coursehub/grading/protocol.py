"""The files between the service and a grading pod, and how their outputs come back.

A pod's folder (a subPath of the service's volume; a hostPath in the dev cluster)::

    in/batch.json        {"limits": {...}, "uid_base": N, "masked_paths": [...],
                          "preload": [...], "submissions": [key, ...]}
    in/<i>/cells.json    {"key": ..., "notebooks": [{"name", "cells": [{"index", "source",
                          "shown"?}]}]}   (``shown``: the source without its hidden tests)
    in/<i>/files/...     the submission's files (what its code may open)
    out/<i>.json         the result, written by the pod when the submission is done:
                          {"key", "sandbox", "notebooks": [{"name", "cells", "feedback_cells"?,
                          "seconds"}]}
    out/<i>.progress     one JSON line per cell of the grading run, as it finishes
    out/refused.json     {"reason"}: the pod ran no student code (it could not confine it)

Only code cells travel to the pod, and only their source: a pod never sees the gradebook,
markdown, metadata or another submission. What comes back is trusted for nothing:
``parse_result`` and ``parse_cells`` check every field's type, and the runner checks each
reply of a submission's process the same way (``check_reply``) as it arrives.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from coursehub.grading.hidden import without_hidden_tests

# Cell states a pod reports besides ok/error, and what the feedback says for each.
PLAIN_MESSAGES = {
    "timeout": "This cell did not finish within {cell_timeout:g} s and was stopped.",
    "crashed": "The Python process died while running this cell ({detail}).",
    "memory": "This cell ran out of memory (limit {memory_mb} MB).",
    "skipped": "This cell was not run: {detail}.",
}
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}
CELL_STATUSES = {"ok", "error", *PLAIN_MESSAGES}


class ProtocolError(ValueError):
    """A result file that does not have the expected shape."""


@dataclass(frozen=True)
class CellResult:
    index: int
    status: str  # ok | error | timeout | crashed | memory | skipped
    execution_count: int | None
    outputs: list[dict]
    detail: str = ""


def write_json_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def code_cells(notebook: dict) -> list[dict]:
    """What a pod needs of a prepared notebook: each code cell's position and source, and
    for a cell with hidden tests, the source its feedback run executes (``shown``)."""
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") != "code":
            continue
        source = _text(cell.get("source", ""))
        entry = {"index": index, "source": source}
        shown = without_hidden_tests(source)
        if shown is not None:
            entry["shown"] = shown
        cells.append(entry)
    return cells


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def parse_cells(data: dict, max_output_bytes: int) -> list[CellResult]:
    """A notebook's cell results from a pod (``data["cells"]``), checked field by field;
    ProtocolError names the cell and what is wrong."""
    raw_cells = data.get("cells", []) if isinstance(data, dict) else None
    if not isinstance(raw_cells, list):
        raise ProtocolError("cell results are not a list")
    results = []
    for position, raw in enumerate(raw_cells):
        where = f"cell result {position}"
        if not isinstance(raw, dict) or type(raw.get("index")) is not int:
            raise ProtocolError(f"{where}: no integer index")
        status = raw.get("status")
        if status not in CELL_STATUSES:
            raise ProtocolError(f"{where}: unknown status {_shown(status)}")
        outputs = raw.get("outputs", [])
        if not isinstance(outputs, list):
            raise ProtocolError(f"{where}: outputs are not nbformat outputs (not a list)")
        clean = [
            clean_output(output, f"{where}: output {number}")
            for number, output in enumerate(outputs)
        ]
        if len(json.dumps(clean)) > 2 * max_output_bytes + 65536:
            raise ProtocolError(f"{where}: outputs larger than the output limit")
        count = raw.get("execution_count")
        if count is not None and type(count) is not int:
            raise ProtocolError(f"{where}: execution_count is not a whole number")
        detail = raw.get("detail", "")
        if not isinstance(detail, str):
            raise ProtocolError(f"{where}: detail is not text")
        results.append(CellResult(raw["index"], status, count, clean, detail[:500]))
    return results


def check_reply(message, nonce: str, max_bytes: int) -> dict:
    """A submission's process's answer for one cell, checked (the runner's side): a dict
    with the request's nonce, a known status, an execution count and nbformat outputs.
    Student code can write to the channel, so anything else is a ProtocolError."""
    if not isinstance(message, dict) or message.get("nonce") != nonce:
        raise ProtocolError("the reply does not answer the request")
    if message.get("status") not in ("ok", "error"):
        raise ProtocolError("the reply has no known status")
    count = message.get("execution_count")
    if count is not None and type(count) is not int:
        raise ProtocolError("the reply's execution_count is not a whole number")
    outputs = message.get("outputs")
    if not isinstance(outputs, list):
        raise ProtocolError("the reply's outputs are not a list")
    clean = [
        clean_output(output, f"reply output {number}") for number, output in enumerate(outputs)
    ]
    if len(json.dumps(clean)) > max_bytes:
        raise ProtocolError("the reply is larger than the output limit")
    return {"status": message["status"], "execution_count": count, "outputs": clean}


@dataclass(frozen=True)
class NotebookResult:
    name: str
    cells: list[CellResult]
    feedback_cells: list[CellResult] | None  # the feedback run's, when there was one


def parse_result(data, max_output_bytes: int) -> dict[str, NotebookResult]:
    """A submission's result file from a pod, by notebook name; ProtocolError names what is
    wrong. Only the runner writes it, but the service checks it as if anyone could."""
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), list):
        raise ProtocolError("the result has no list of notebooks")
    notebooks = {}
    for number, raw in enumerate(data["notebooks"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ProtocolError(f"notebook {number} of the result has no name")
        feedback = None
        if "feedback_cells" in raw:
            feedback = parse_cells({"cells": raw["feedback_cells"]}, max_output_bytes)
        notebooks[raw["name"]] = NotebookResult(
            raw["name"], parse_cells(raw, max_output_bytes), feedback
        )
    return notebooks


def clean_output(output, where: str = "output") -> dict:
    """One nbformat output with only its known fields, each of the type nbformat gives it;
    anything else (a wrong type, an unknown output type) is a ProtocolError naming the field.
    Student code can write to the grader's channel, so every output is checked this way,
    by the runner as it arrives and by the service as it reads a pod's result."""
    if not isinstance(output, dict) or output.get("output_type") not in OUTPUT_TYPES:
        raise ProtocolError(f"{where}: outputs are not nbformat outputs")
    kind = output["output_type"]
    if kind == "stream":
        name = output.get("name")
        if name not in ("stdout", "stderr"):
            raise ProtocolError(f"{where}: a stream's name is {_shown(name)}, not stdout or stderr")
        return {"output_type": "stream", "name": name, "text": _string(output, "text", where)}
    if kind == "error":
        traceback = output.get("traceback", [])
        if not isinstance(traceback, list) or not all(isinstance(line, str) for line in traceback):
            raise ProtocolError(f"{where}: traceback is not a list of text lines")
        return {
            "output_type": "error",
            "ename": _string(output, "ename", where),
            "evalue": _string(output, "evalue", where),
            "traceback": list(traceback),
        }
    data, metadata = output.get("data", {}), output.get("metadata", {})
    if not isinstance(data, dict) or not all(
        isinstance(mime, str) and _mime_value_ok(mime, value) for mime, value in data.items()
    ):
        raise ProtocolError(f"{where}: data is not a mapping of MIME types to their contents")
    if not isinstance(metadata, dict):
        raise ProtocolError(f"{where}: metadata is not a mapping")
    clean = {"output_type": kind, "data": dict(data), "metadata": dict(metadata)}
    if kind == "execute_result":
        count = output.get("execution_count")
        if count is not None and type(count) is not int:
            raise ProtocolError(f"{where}: execution_count is not a whole number")
        clean["execution_count"] = count
    return clean


def _string(output: dict, key: str, where: str) -> str:
    value = output.get(key, "")
    if not isinstance(value, str):
        raise ProtocolError(f"{where}: {key} is not text")
    return value


def _mime_value_ok(mime: str, value) -> bool:
    """nbformat: JSON types (``application/json``, ``…+json``) hold any JSON value, the others
    text or a list of text lines."""
    if mime == "application/json" or mime.endswith("+json"):
        return True  # came from json.loads: any JSON value
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(line, str) for line in value)
    )


def _shown(value) -> str:
    return repr(value)[:80]


def merge_outputs(
    notebook: dict,
    results: list[CellResult],
    limits: dict,
    missing: str = "the grading pod returned nothing",
) -> dict:
    """The prepared notebook with the pod's outputs in its code cells, as nbgrader's Execute
    would leave it. A cell that timed out, crashed, ran out of memory or was not run (no
    result: ``missing`` says why) gets an error output with a plain sentence, so nbgrader
    scores it (and any test in it) zero."""
    by_index = {result.index: result for result in results}
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") != "code":
            continue
        result = by_index.get(index)
        if result is None:
            result = CellResult(index, "skipped", None, [], missing)
        outputs = [dict(output) for output in result.outputs]
        if result.status in PLAIN_MESSAGES:
            outputs.append(plain_error(result, limits))
        cell["outputs"] = outputs
        cell["execution_count"] = result.execution_count
    return notebook


def plain_error(result: CellResult, limits: dict) -> dict:
    message = PLAIN_MESSAGES[result.status].format(
        cell_timeout=limits.get("cell_timeout", 0),
        memory_mb=int(limits.get("memory", 0)) // 1024**2,
        detail=result.detail or "unknown cause",
    )
    name = {
        "timeout": "CellTimeoutError",
        "crashed": "KernelDied",
        "memory": "MemoryError",
        "skipped": "CellNotRun",
    }[result.status]
    return {"output_type": "error", "ename": name, "evalue": message, "traceback": [message]}
