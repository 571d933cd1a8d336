"""Plain-language spawn progress: Kubernetes events in, sentences for students out.

Pure functions. The spawner feeds each raw event (a v1 Event as a dict) with the
environment being started and, when the event says the pod waits for GPUs, the number of
such GPUs in the cluster (``coursehub.gpu.nodes.count_gpus`` over the node list). Events
this module does not know keep their own message, so nothing is hidden.
"""

from __future__ import annotations

import re

from coursehub.catalog.model import Environment
from coursehub.gpu.nodes import gpu_kind, is_gpu_slice

WHOLE_GPU_RESOURCE = "nvidia.com/gpu"
_ASSIGNED = re.compile(r"\bto (?P<node>[^\s]+)\s*$")
_PULLING = re.compile(r'^Pulling image "?(?P<image>[^"]+)"?')


def waits_for_gpu(event: dict, environment: Environment | None) -> bool:
    """Whether ``event`` says the pod cannot be scheduled for lack of its GPUs."""
    if environment is None or environment.gpu is None or environment.gpu.count == 0:
        return False
    return event.get("reason") == "FailedScheduling" and (
        f"Insufficient {environment.gpu.resource}" in (event.get("message") or "")
    )


def translate_event(
    event: dict, environment: Environment | None, gpus_in_cluster: int | None = None
) -> str:
    """A sentence for the user about one Kubernetes event of their pod.

    ``gpus_in_cluster`` is the number of GPUs of the environment's kind in the cluster
    (see ``count_gpus``); it makes the waiting message concrete when known.
    """
    reason = event.get("reason") or ""
    message = (event.get("message") or "").strip()
    gpu = environment.gpu if environment is not None and environment.gpu_count else None
    if reason == "FailedScheduling":
        return _scheduling_failed(message, environment, gpus_in_cluster)
    if reason == "Scheduled":
        node = _ASSIGNED.search(message)
        where = node.group("node") if node else "a node"
        if gpu is None:
            return f"Your server is assigned to {where}; starting your environment…"
        singular, plural = gpu_kind(gpu.resource, gpu.product, gpu.share)
        what = f"A {singular} is" if gpu.count == 1 else f"{gpu.count} {plural} are"
        if what.startswith("A A"):  # "A A100 GPU" reads badly; "An A100 GPU" is right
            what = "An" + what[1:]
        return f"{what} assigned on {where}; starting your environment…"
    if reason == "Pulling":
        pulling = _PULLING.match(message)
        image = pulling.group("image") if pulling else "the course image"
        return f"Fetching the course image {image}…"
    if reason == "Pulled":
        return "The course image is ready."
    if reason == "Created":
        return "Creating your environment…"
    if reason == "Started":
        return "Starting JupyterLab…"
    if reason in {"Failed", "BackOff", "FailedMount", "FailedCreatePodSandBox"}:
        return f"Your environment could not start: {message}"
    return message or reason


def _scheduling_failed(
    message: str, environment: Environment | None, gpus_in_cluster: int | None
) -> str:
    gpu = environment.gpu if environment is not None and environment.gpu_count else None
    if gpu is not None and f"Insufficient {gpu.resource}" in message:
        singular, plural = gpu_kind(gpu.resource, gpu.product, gpu.share)
        a_gpu = "a GPU slice" if is_gpu_slice(gpu.resource) else "a GPU"
        if gpu.count > 1:
            a_gpu = f"{gpu.count} {plural}"
        if gpus_in_cluster is None:
            in_use = f"every {singular} is in use"
        elif gpus_in_cluster == 0:
            return (
                f"Waiting for {a_gpu}: this cluster has no {plural} right now. "
                "Your server will start when one is added; ask an admin if this lasts."
            )
        elif gpus_in_cluster < gpu.count:
            return (
                f"This environment needs {gpu.count} {plural}, but the cluster has only "
                f"{gpus_in_cluster}. Ask your instructor or an admin."
            )
        elif gpus_in_cluster == 1:
            in_use = f"the only {singular} is in use"
        else:
            in_use = f"all {gpus_in_cluster} {plural} are in use"
        one = "one is" if gpu.count == 1 else "enough are"
        return f"Waiting for {a_gpu}: {in_use}. Your server will start as soon as {one} free."
    if "Insufficient cpu" in message or "Insufficient memory" in message:
        return (
            "Waiting for room on the cluster: no node has enough free CPU or memory for this "
            "environment. Your server will start as soon as there is."
        )
    return f"Waiting for a node that can run this environment ({message})"
