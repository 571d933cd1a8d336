"""``coursehub dev``: the dev cluster, configurable-http-proxy and the hub on one machine.

- ``platform``: ``Platform`` and ``PlatformConfig``, the platform tests and benchmarks start;
- ``processes``: a supervised child process (``Part``, ``PartFailed``) and the port and HTTP
  probes (``free_port``, ``http_status`` …);
- ``command``: ``run``, the ``coursehub dev`` command;
- ``die_with_parent``: ``python -m coursehub.dev.die_with_parent CMD …``, how the dev hub
  starts its managed services.

``from coursehub.dev import Platform, PlatformConfig`` works; the names are imported on first
use, so ``python -m coursehub.dev.die_with_parent`` does not import the hub to start a service.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Platform": "coursehub.dev.platform",
    "PlatformConfig": "coursehub.dev.platform",
    "PartFailed": "coursehub.dev.processes",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
