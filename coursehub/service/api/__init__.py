"""The coursehub service's HTTP API, one module per resource as in JupyterHub's
``apihandlers``: every handler builds on ``base.BaseHandler`` (hub token, role checks, JSON
errors), each module ends with ``default_handlers`` (patterns relative to the service's
prefix), and this list joins them; ``coursehub.service.app`` adds the prefix and the
context. Handler modules import ``base`` and no other handler module.
"""

from coursehub.service.api import (
    assignments,
    base,
    gpu,
    grades,
    grading_batches,
    identities,
    jobs,
    me,
    memberships,
    rosters,
    usage,
)

default_handlers: list[tuple[str, type]] = []
for module in (
    base,
    me,
    assignments,
    grades,
    jobs,
    grading_batches,
    identities,
    rosters,
    memberships,
    gpu,
    usage,
):
    default_handlers.extend(module.default_handlers)
