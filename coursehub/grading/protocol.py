"""The files between the service and a grading pod, and how their outputs come back.

A pod's folder (a subPath of the service's volume; a hostPath in the dev cluster)::

    in/batch.json              {"limits": {...}, "uid_base": N, "submissions": [key, ...]}
    in/<i>/cells.json          {"key": ..., "notebooks": [{"name", "cells": [{"index", "source"}]}]}
    in/<i>/files/...           the submission's files (what its code may open)
    out/<i>.json               the result, written by the pod when the submission is done

Only code cells travel to the pod, and only their source: a pod never sees the gradebook,
markdown, metadata or another submission. What comes back is trusted for nothing but
outputs: ``merge_outputs`` checks their shape and size before they touch a notebook.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

# Cell states a pod reports besides ok/error, and what the feedback says for each.
PLAIN_MESSAGES = {
    "timeout": "This cell did not finish within {cell_timeout:g} s and was stopped.",
    "crashed": "The Python process died while running this cell ({detail}).",
    "memory": "This cell ran out of memory (limit {memory_mb} MB).",
    "skipped": "This cell was not run: {detail}.",
}
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}


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
    """What a pod needs of a prepared notebook: each code cell's position and source."""
    return [
        {"index": index, "source": _text(cell.get("source", ""))}
        for index, cell in enumerate(notebook["cells"])
        if cell.get("cell_type") == "code"
    ]


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def parse_cells(data: dict, max_output_bytes: int) -> list[CellResult]:
    """A notebook's cell results from a pod, checked; ProtocolError names what is wrong."""
    results = []
    for position, raw in enumerate(data.get("cells", [])):
        where = f"cell result {position}"
        if not isinstance(raw, dict) or not isinstance(raw.get("index"), int):
            raise ProtocolError(f"{where}: no integer index")
        status = raw.get("status")
        if status not in {"ok", "error", *PLAIN_MESSAGES}:
            raise ProtocolError(f"{where}: unknown status {status!r}")
        outputs = raw.get("outputs", [])
        if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and o.get("output_type") in OUTPUT_TYPES for o in outputs
        ):
            raise ProtocolError(f"{where}: outputs are not nbformat outputs")
        if len(json.dumps(outputs)) > 2 * max_output_bytes + 65536:
            raise ProtocolError(f"{where}: outputs larger than the output limit")
        count = raw.get("execution_count")
        results.append(
            CellResult(
                index=raw["index"],
                status=status,
                execution_count=count if isinstance(count, int) else None,
                outputs=outputs,
                detail=str(raw.get("detail", ""))[:500],
            )
        )
    return results


def merge_outputs(notebook: dict, results: list[CellResult], limits: dict) -> dict:
    """The prepared notebook with the pod's outputs in its code cells, as nbgrader's Execute
    would leave it. A cell that timed out, crashed, ran out of memory or was not run gets an
    error output with a plain sentence, so nbgrader scores it (and any test in it) zero."""
    by_index = {result.index: result for result in results}
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") != "code":
            continue
        result = by_index.get(index)
        if result is None:
            result = CellResult(index, "skipped", None, [], "the grading pod returned nothing")
        outputs = [_nbformat_output(o) for o in result.outputs]
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


def _nbformat_output(output: dict) -> dict:
    kind = output["output_type"]
    if kind == "stream":
        return {
            "output_type": "stream",
            "name": "stderr" if output.get("name") == "stderr" else "stdout",
            "text": str(output.get("text", "")),
        }
    if kind == "error":
        return {
            "output_type": "error",
            "ename": str(output.get("ename", "Error")),
            "evalue": str(output.get("evalue", "")),
            "traceback": [str(line) for line in output.get("traceback") or []],
        }
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    metadata = output.get("metadata") if isinstance(output.get("metadata"), dict) else {}
    clean = {"output_type": kind, "data": data, "metadata": metadata}
    if kind == "execute_result":
        count = output.get("execution_count")
        clean["execution_count"] = count if isinstance(count, int) else None
    return clean
