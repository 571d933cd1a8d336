"""``GET api/catalog``: the catalog the deployment loaded, for admins (``coursehub doctor``).

The course files as the service reads them (the chart unpacks the same ConfigMap for the
hub and the service): the valid courses with what their GPU environments ask of the
cluster and the shared-data claims they mount, and every problem, as
``file:line: field: message`` (a broken course is left out until it is fixed).
"""

from __future__ import annotations

from coursehub.service.api.base import BaseHandler
from coursehub.service.rules import require_admin


class CatalogHandler(BaseHandler):
    async def get(self):
        require_admin(self.caller, "read the deployment's catalog and its problems")
        files = self.context.catalog_sync.file_catalog()
        courses = [
            {
                "id": course.id,
                "title": course.title,
                "gpu_environments": [
                    {
                        "slug": environment.slug,
                        "count": environment.gpu_count,
                        "resource": environment.gpu.resource,
                        "product": environment.gpu.product,
                    }
                    for environment in course.environments
                    if environment.gpu_count
                ],
                "shared_data_claims": [shared.claim for shared in course.shared_data],
            }
            for course in files.courses.values()
        ]
        self.write_json(
            {"courses": courses, "problems": [str(problem) for problem in files.problems]}
        )


default_handlers = [("api/catalog", CatalogHandler)]
