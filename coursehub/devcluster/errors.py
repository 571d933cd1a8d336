"""The error type of the dev cluster's API: a Kubernetes ``Status`` waiting to be sent.

Messages follow the real API server's (``pods "x" not found``) so that kubectl and
kubernetes_asyncio users see familiar text.
"""

from __future__ import annotations

from coursehub.devcluster.resources import ResourceType

__all__ = ["ApiError", "details", "invalid", "not_found"]


class ApiError(Exception):
    """An API failure, carrying what the Kubernetes API would answer.

    ``code``: HTTP status (404 NotFound, 409 AlreadyExists/Conflict, 410 Expired,
    422 Invalid, 400 BadRequest, 415 UnsupportedMediaType). ``reason``: the Status reason.
    """

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> dict:
        """This error as a ``v1`` ``Status`` object."""
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def details(name: str, kind: str, resource: ResourceType) -> dict:
    """A Status's ``details``: the group is named only outside the core group."""
    found = {"name": name, "kind": kind}
    if resource.group:
        found["group"] = resource.group
    return found


def not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{resource.qualified_plural} "{name}" not found',
        details(name, resource.plural, resource),
    )


def invalid(resource: ResourceType, name: str, errors: list[str]) -> ApiError:
    detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{resource.qualified_kind} "{name}" is invalid: {detail}',
        details(name, resource.kind, resource),
    )
