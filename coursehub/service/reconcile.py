"""What the hub must change to match the effective catalog: pure functions, no I/O.

- ``plan_groups(desired, actual)``: the operations that turn the hub's course groups
  (``course-<id>-students``, ``course-<id>-staff``, ``course-<id>-reachable``) and the
  admins' group (``coursehub-admins``) into what the catalog and the hub's admin flags say
  (``desired_groups``): create the missing ones, make sure users about to be added exist,
  remove and add members, set properties. Only groups in ``desired`` are touched: other
  groups and groups of courses that are not in the catalog right now (removed, or invalid
  until fixed) are left as they are. Removals come before additions, so a user moved from
  students to staff (or back) never holds both roles' rights at once, and a student who
  became staff elsewhere leaves the reachable group before anything else changes.
- ``servers_to_stop(catalog, users)``: the running servers whose owner may no longer use
  them: a server of a course environment (``user_options.profile`` is the profile slug)
  whose owner is not a member of that course, or a server without a profile whose owner is
  in no course at all. Admins may start everything and keep theirs; a server of a course
  that is not in the catalog right now keeps running (as documented for invalid courses).

``coursehub.service.hub_sync`` applies both through the hub's REST API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coursehub.catalog import Catalog
from coursehub.catalog.groups import build_groups
from coursehub.names import ADMINS_GROUP

COURSE_GROUP_PREFIX = "course-"


@dataclass(frozen=True)
class GroupSpec:
    users: frozenset[str]
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One change: ``kind`` is ``create-users``, ``create-group``, ``remove``, ``add`` or
    ``set-properties``; ``group`` is empty for ``create-users``."""

    kind: str
    group: str = ""
    users: tuple[str, ...] = ()
    properties: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        names = ", ".join(self.users)
        if self.kind == "create-users":
            return f"create users {names}"
        if self.kind == "create-group":
            return f"create group {self.group}"
        if self.kind == "set-properties":
            return f"set properties of {self.group} to {dict(self.properties or {})}"
        preposition = "to" if self.kind == "add" else "from"
        return f"{self.kind} {names} {preposition} {self.group}"


@dataclass(frozen=True)
class ServerStop:
    username: str
    server: str  # "" for the default server
    reason: str


def is_course_group(name: str) -> bool:
    return name.startswith(COURSE_GROUP_PREFIX)


def is_managed_group(name: str) -> bool:
    """A group whose members the service keeps (course groups and the admins' group)."""
    return is_course_group(name) or name == ADMINS_GROUP


def desired_groups(catalog: Catalog, admins: Iterable[str] = ()) -> dict[str, GroupSpec]:
    """The groups of the (effective) catalog and of the hub's ``admins``, with members."""
    return {
        name: GroupSpec(frozenset(spec["users"]), dict(spec["properties"]))
        for name, spec in build_groups(catalog, admins=frozenset(admins)).items()
    }


def hub_admins(users: Iterable[Mapping[str, Any]]) -> set[str]:
    """The names of the admins among hub user models (``GET /users``)."""
    return {
        user["name"] for user in users if user.get("admin") and isinstance(user.get("name"), str)
    }


def plan_groups(
    desired: Mapping[str, GroupSpec], actual: Mapping[str, GroupSpec]
) -> list[Operation]:
    """Operations that make the hub's groups named in ``desired`` equal to it; [] when
    they already are (so applying twice changes nothing)."""
    creates: list[Operation] = []
    removals: list[Operation] = []
    additions: list[Operation] = []
    properties: list[Operation] = []
    new_members: set[str] = set()
    for name in sorted(desired):
        want = desired[name]
        have = actual.get(name)
        if have is None:
            creates.append(Operation("create-group", name, properties=dict(want.properties)))
            have = GroupSpec(frozenset())
        elif dict(have.properties) != dict(want.properties):
            properties.append(Operation("set-properties", name, properties=dict(want.properties)))
        gone = sorted(have.users - want.users)
        added = sorted(want.users - have.users)
        if gone:
            removals.append(Operation("remove", name, tuple(gone)))
        if added:
            additions.append(Operation("add", name, tuple(added)))
            new_members.update(added)
    users = [Operation("create-users", users=tuple(sorted(new_members)))] if new_members else []
    return users + creates + removals + additions + properties


def servers_to_stop(catalog: Catalog, users: Iterable[Mapping[str, Any]]) -> list[ServerStop]:
    """Running (or starting) servers of hub user models (``GET /users`` with
    ``read:servers``) that their owners may no longer use."""
    stops: list[ServerStop] = []
    for user in users:
        name = user.get("name")
        if not isinstance(name, str) or user.get("admin"):
            continue
        for server_name, server in sorted((user.get("servers") or {}).items()):
            if not server or server.get("stopped"):
                continue
            options = server.get("user_options") or {}
            slug = options.get("profile") if isinstance(options, Mapping) else None
            if isinstance(slug, str) and slug:
                owner = catalog.profile(slug)
                if owner is None:
                    continue  # the course is not in the catalog right now: leave it running
                course, _environment = owner
                if course.role_of(name) is None:
                    reason = f"{name} is no longer a member of {course.id} (server {slug!r})"
                    stops.append(ServerStop(name, server_name, reason))
            elif not catalog.memberships(name):
                stops.append(ServerStop(name, server_name, f"{name} is in no course any more"))
    return stops
