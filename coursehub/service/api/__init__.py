"""The coursehub service's HTTP API, one module per resource as in JupyterHub's
``apihandlers``: every handler builds on ``base.BaseHandler`` (hub token, role checks, JSON
errors), each module ends with ``default_handlers`` (patterns relative to the service's
prefix), and this list joins them; ``coursehub.service.app`` adds the prefix and the
context. Handler modules import ``base`` and no other handler module.
"""

from coursehub.service.api import (
    assignments,
    base,
    catalog,
    extensions,
    gpu,
    grades,
    grading_batches,
    identities,
    jobs,
    lms,
    me,
    memberships,
    metrics,
    rosters,
    usage,
)

default_handlers: list[tuple[str, type]] = []
HANDLER_MODULES = (
    base,
    me,
    catalog,
    assignments,
    extensions,
    grades,
    jobs,
    grading_batches,
    lms,
    identities,
    rosters,
    memberships,
    gpu,
    usage,
    metrics,
)
for module in HANDLER_MODULES:
    default_handlers.extend(module.default_handlers)
