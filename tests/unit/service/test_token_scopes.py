"""Which hub tokens may act in the service, from the hub's answer about them
(``/hub/api/user``): models shaped as JupyterHub 6.1 returns them.

The attack (review 2026-12, finding 2): a token a notebook server holds, such as the OAuth
token a TA's visit leaves in a student's server, or an admin's minimal token, must not act
as staff or admin."""

from __future__ import annotations

import pytest
from factories import course

from coursehub.names import STAFF_SCOPE
from coursehub.service.rules import (
    Caller,
    Refusal,
    require_admin,
    require_member,
    require_self_or_staff,
    require_service_access,
    require_staff,
    role_in,
)

COURSE = course("ai-101", title="AI", instructors=["teacher"], students=["alice", "bob"])
ACCESS = "access:services!service=coursehub"


def identify(name: str) -> list[str]:
    return [f"read:users:name!user={name}", f"read:users:groups!user={name}"]


# What the hub answers for the OAuth token teacher's visit left in alice's server.
VISIT = {
    "kind": "user",
    "name": "teacher",
    "admin": False,
    "scopes": ["access:servers!server=alice/", *identify("teacher")],
}
# The same visit by an admin: read:users:name includes the admin flag.
ADMIN_VISIT = {**VISIT, "name": "root", "admin": True, "scopes": ["access:servers!server=alice/"]}
# A notebook server's own token (Spawner.server_token_scopes), here the teacher's own server.
SERVER = {
    "kind": "user",
    "name": "teacher",
    "admin": False,
    "scopes": ["users:activity!user=teacher", "access:servers!server=teacher/", ACCESS],
}
# Tokens people make for themselves (Token page): every scope they hold.
OWN = {**SERVER, "scopes": [*SERVER["scopes"], STAFF_SCOPE, "access:servers!group=x"]}
ADMIN_OWN = {
    "kind": "user",
    "name": "root",
    "admin": True,
    "scopes": ["admin:users", "access:services", STAFF_SCOPE],
}


def test_a_visit_token_cannot_act_as_the_visiting_staff():
    caller = Caller.from_hub_model(VISIT)
    with pytest.raises(Refusal) as refused:
        require_staff(COURSE, caller)
    assert refused.value.status == 403
    assert STAFF_SCOPE in refused.value.message and "Token page" in refused.value.message
    with pytest.raises(Refusal):
        require_self_or_staff(COURSE, caller, "bob")


def test_an_admins_minimal_token_is_no_admin():
    caller = Caller.from_hub_model(ADMIN_VISIT)
    assert not caller.admin and caller.hub_admin
    assert role_in(COURSE, caller) is None
    with pytest.raises(Refusal) as refused:
        require_member(COURSE, caller)
    assert STAFF_SCOPE in refused.value.message
    with pytest.raises(Refusal) as refused:
        require_admin(caller, "grant GPU-hours")
    assert STAFF_SCOPE in refused.value.message and "COURSEHUB_TOKEN" in refused.value.message


def test_a_servers_own_token_is_its_owner_without_staff_powers():
    caller = Caller.from_hub_model(SERVER)
    assert caller.name == "teacher" and not caller.staff_scope
    assert role_in(COURSE, caller) is None
    with pytest.raises(Refusal, match="custom:coursehub:staff"):
        require_staff(COURSE, caller)


def test_own_tokens_act_as_staff_and_admin():
    assert role_in(COURSE, Caller.from_hub_model(OWN)) == "staff"
    admin = Caller.from_hub_model(ADMIN_OWN)
    assert admin.admin and role_in(COURSE, admin) == "staff"
    require_admin(admin, "grant GPU-hours")


def test_a_student_keeps_their_own_work_without_the_staff_scope():
    alice = {**SERVER, "name": "alice", "scopes": [ACCESS]}
    caller = Caller.from_hub_model(alice)
    assert role_in(COURSE, caller) == "student"
    assert require_self_or_staff(COURSE, caller, "alice") == "student"
    with pytest.raises(Refusal, match="alice is not staff of ai-101"):
        require_staff(COURSE, caller)  # a student is told she is no staff, not about scopes


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        ([ACCESS], True),
        (["access:services"], True),  # admins: every service
        (["access:servers!server=alice/"], False),  # a visit's OAuth token
        (["access:services!service=grader-ai-101"], False),  # a token for another service
        (["users:activity!user=alice", "access:servers!server=alice/"], False),
        ([], False),
    ],
)
def test_only_tokens_for_the_coursehub_service_are_accepted(scopes, allowed):
    model = {"kind": "user", "name": "alice", "scopes": scopes}
    if allowed:
        require_service_access(model, "coursehub")
        return
    with pytest.raises(Refusal) as refused:
        require_service_access(model, "coursehub")
    assert refused.value.status == 403
    assert ACCESS in refused.value.message and "Token page" in refused.value.message
