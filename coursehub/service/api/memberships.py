"""Course memberships as the hub records and reads them (see ``docs/rosters.md``):

- ``PUT|GET api/users/<name>/memberships``: the memberships an identity provider gave a
  user at sign-in (``{"source": "oidc"|"lti", "courses": {id: "student"|"staff"}}``); only
  the hub process records them (its token is the ``coursehub-hub`` service's); a user reads
  their own, admins anyone's.
- ``GET api/memberships``: the whole overlay without emails and names, for the hub's
  ``CatalogSync`` (``?since=<version>`` answers ``{"unchanged": true}`` when it has it).

A recorded membership reloads the service's effective catalog before the answer, as a
roster import does.
"""

from __future__ import annotations

import hashlib
import json

from coursehub.catalog.overlay import IDP_SOURCES, ROLES, Overlay, roles_of, unknown_courses
from coursehub.service import memberships
from coursehub.service.api.base import SEGMENT, BaseHandler, check_username
from coursehub.service.rules import Caller, Refusal, staff_scope_refusal


def require_hub(caller: Caller, what: str) -> None:
    if not caller.is_hub:
        raise Refusal(
            403,
            f"{caller} may not {what}: only the hub records memberships, at sign-in",
        )


class UserMembershipsHandler(BaseHandler):
    async def put(self, username: str):
        require_hub(self.caller, "record sign-in memberships")
        username = check_username(username)
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            raise Refusal(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise Refusal(400, 'send {"source": "oidc"|"lti", "courses": {course id: role}}')
        source = body.get("source")
        if source not in IDP_SOURCES:
            raise Refusal(400, f"'source' must be one of {', '.join(IDP_SOURCES)}, not {source!r}")
        courses = body.get("courses")
        if not isinstance(courses, dict):
            raise Refusal(400, "'courses' must be an object of course id -> 'student' or 'staff'")
        bad_roles = sorted(cid for cid, role in courses.items() if role not in ROLES)
        if bad_roles:
            raise Refusal(
                400,
                f"roles must be 'student' or 'staff'; not so for: {', '.join(bad_roles)}; "
                "nothing was recorded",
            )
        unknown = unknown_courses(self.context.catalog, courses)
        if unknown:
            raise Refusal(
                400,
                f"unknown course id(s): {', '.join(unknown)}; nothing was recorded",
                {"unknown": unknown},
            )
        now = self.context.now()
        await self.context.db.run(
            lambda session: memberships.replace_memberships(session, username, source, courses, now)
        )
        await self.context.catalog_sync.refresh_overlay()
        self.write_json({"username": username, "courses": roles_of(self.context.catalog, username)})

    async def get(self, username: str):
        username = check_username(username)
        caller = self.caller
        if not (
            caller.is_hub or caller.admin or (caller.kind == "user" and caller.name == username)
        ):
            if caller.hub_admin:
                raise staff_scope_refusal(caller, "read others' memberships")
            raise Refusal(403, f"{caller} may only see their own memberships")
        overlay = self.context.catalog_sync.overlay
        self.write_json(
            {
                "username": username,
                "courses": roles_of(self.context.catalog, username),
                "sign_in": [
                    {"source": m.source, "course": m.course, "role": m.role}
                    for m in overlay.memberships
                    if m.username == username
                ],
            }
        )


_versions: dict[int, tuple[Overlay, str, dict]] = {}


def published(overlay: Overlay) -> tuple[str, dict]:
    """``(version, JSON)`` of the overlay as the hub gets it (no emails or names); computed
    once per overlay."""
    cached = _versions.get(id(overlay))
    if cached is not None and cached[0] is overlay:
        return cached[1], cached[2]
    body = overlay.usernames_only().to_json()
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    _versions.clear()
    _versions[id(overlay)] = (overlay, version, body)
    return version, body


class OverlayHandler(BaseHandler):
    async def get(self):
        if not (self.caller.is_hub or self.caller.admin):
            if self.caller.hub_admin:
                raise staff_scope_refusal(self.caller, "read every course membership")
            raise Refusal(403, f"{self.caller} may not read every course membership")
        version, body = published(self.context.catalog_sync.overlay)
        if self.get_query_argument("since", None) == version:
            self.write_json({"version": version, "unchanged": True})
        else:
            self.write_json({"version": version, "overlay": body})


default_handlers = [
    (rf"api/users/{SEGMENT}/memberships", UserMembershipsHandler),
    ("api/memberships", OverlayHandler),
]
