"""The dev cluster's stand-in for a GPU's telemetry: one JSON file per GPU pod.

A real GPU server reads NVML; a dev pod has no GPU, so the kubelet gives each pod that holds
GPUs a file, ``<state>/devcluster/pods/<namespace>/<pod>/gpu-telemetry.json``, and points
``COURSEHUB_GPU_TELEMETRY_FILE`` at it. The notices server extension reads it in place of
NVML (``coursehub.notices.telemetry``); everything after the reading is the production path.
A pod starts idle; tests and demos make it busy with ``write_load``:

    write_load(telemetry_path(state_dir, "default", "jupyter-ada"), utilization=85)
"""

from __future__ import annotations

import json
from pathlib import Path

FILE_NAME = "gpu-telemetry.json"
VARIABLE = "COURSEHUB_GPU_TELEMETRY_FILE"
# What each dev GPU (or replica's physical GPU) reports as its memory: a T4's 16 GiB.
DEVICE_MEMORY_BYTES = 16 * 2**30


def telemetry_path(state_dir: Path, namespace: str, pod: str) -> Path:
    """Where the kubelet keeps the telemetry file of a pod (the cluster's ``state_dir``)."""
    return Path(state_dir) / "devcluster" / "pods" / namespace / pod / FILE_NAME


def load_json(devices: int, utilization: float, memory_used_bytes: int) -> str:
    """The file's text for ``devices`` GPUs, each at ``utilization`` percent."""
    if not 0 <= utilization <= 100:
        raise ValueError(f"utilization must be a percentage from 0 to 100, not {utilization!r}")
    gpus = [
        {
            "utilization": utilization,
            "memory_used_bytes": memory_used_bytes,
            "memory_total_bytes": DEVICE_MEMORY_BYTES,
        }
        for _ in range(devices)
    ]
    return json.dumps({"gpus": gpus})


def write_load(
    path: Path, utilization: float, memory_used_bytes: int = 0, devices: int | None = None
) -> None:
    """Set what the pod's GPUs report from now on (atomically: the reader never sees half a
    file). ``devices`` defaults to as many as the file lists now."""
    path = Path(path)
    if devices is None:
        devices = len(json.loads(path.read_text()).get("gpus") or []) if path.exists() else 1
    partial = path.with_suffix(".partial")
    partial.write_text(load_json(devices, utilization, memory_used_bytes))
    partial.replace(path)
