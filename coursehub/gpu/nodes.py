"""GPU nodes as the Kubernetes API shows them: how many GPUs of a kind they offer, and how
to name that kind for people. Pure functions over node dicts.
"""

from __future__ import annotations

import re
from decimal import Decimal

from coursehub.names import GPU_PRODUCT_LABEL
from coursehub.quantity import QuantityError, parse_quantity

_MIG = re.compile(r"^nvidia\.com/mig-(?P<shape>\d+g\.\d+gb)$")
# The short model name inside a product label: NVIDIA-A100-SXM4-80GB -> A100, Tesla-T4 -> T4.
_MODEL = re.compile(r"(?:^|-)(?P<model>[A-Z]{1,3}\d{1,4}[A-Za-z]?)(?=-|$)")


def is_gpu_slice(resource: str) -> bool:
    """Whether ``resource`` is a MIG slice of a GPU (``nvidia.com/mig-1g.10gb``)."""
    return _MIG.fullmatch(resource) is not None


_SHARE_NAMES = {2: "half", 3: "third", 4: "quarter"}


def share_name(share: float) -> str:
    """``quarter-GPU share`` for 0.25, ``1/8-GPU share`` for 0.125."""
    replicas = round(1 / share)
    return f"{_SHARE_NAMES.get(replicas, f'1/{replicas}')}-GPU share"


def gpu_kind(resource: str, product: str | None, share: float = 1.0) -> tuple[str, str]:
    """Singular and plural names of one unit of ``resource``, e.g.
    ``("A100 GPU", "A100 GPUs")``, ``("MIG 1g.10gb GPU slice", "MIG 1g.10gb GPU slices")`` or,
    for a replica of a shared GPU, ``("T4 quarter-GPU share", "T4 quarter-GPU shares")``."""
    mig = _MIG.fullmatch(resource)
    if mig:
        name = f"MIG {mig.group('shape')} GPU slice"
        return name, name + "s"
    if share < 1:
        model = _MODEL.search(product or "")
        name = f"{model.group('model')} {share_name(share)}" if model else share_name(share)
        return name, name + "s"
    model = _MODEL.search(product or "")
    if model:
        name = f"{model.group('model')} GPU"
    elif product:
        name = f"{product} GPU"
    else:
        name = "GPU"
    return name, name + "s"


def count_gpus(nodes: list[dict], resource: str, product: str | None) -> int:
    """Units of ``resource`` that schedulable nodes offer (allocatable, else capacity),
    on nodes labelled ``nvidia.com/gpu.product=<product>`` when ``product`` is set."""
    total = Decimal(0)
    for node in nodes:
        if (node.get("spec") or {}).get("unschedulable"):
            continue
        labels = (node.get("metadata") or {}).get("labels") or {}
        if product and labels.get(GPU_PRODUCT_LABEL) != product:
            continue
        status = node.get("status") or {}
        amount = (status.get("allocatable") or {}).get(resource)
        if amount is None:
            amount = (status.get("capacity") or {}).get(resource)
        if amount is None:
            continue
        try:
            total += parse_quantity(amount)
        except QuantityError:
            continue
    return int(total)
