"""Who may do what in the service, and which submission the collect rule picks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from factories import course

from coursehub.names import STAFF_SCOPE
from coursehub.service.rules import (
    Caller,
    Refusal,
    choose_for_collection,
    require_self_or_staff,
    require_staff,
    require_student,
    role_in,
)

COURSE = course(
    "ai-101", title="AI", instructors=["teacher"], tas=["helper"], students=["alice", "bob"]
)


def user(name: str, admin: bool = False) -> Caller:
    """A caller whose token carries the staff scope (as tokens people make do)."""
    return Caller(name=name, kind="user", admin=admin, staff_scope=True)


def service(name: str) -> Caller:
    return Caller(name=name, kind="service", admin=False, staff_scope=True)


def test_callers_from_the_hubs_answer():
    alice = Caller.from_hub_model({"name": "alice", "kind": "user"})
    assert alice == Caller(name="alice", kind="user", admin=False)
    root = {"name": "root", "kind": "user", "admin": True, "scopes": [STAFF_SCOPE]}
    assert Caller.from_hub_model(root).admin
    # a token that may administer every user is a platform admin (the dev admin service)
    scopes = ["admin:users", STAFF_SCOPE]
    dev = Caller.from_hub_model({"name": "dev", "kind": "service", "scopes": scopes})
    assert dev.admin and dev.kind == "service"
    filtered = {"name": "x", "kind": "user", "scopes": ["admin:users!group=course-ai-101"]}
    assert not Caller.from_hub_model(
        {**filtered, "scopes": [*filtered["scopes"], STAFF_SCOPE]}
    ).admin
    # without the staff scope, an admin's token is no admin (tokens servers hold)
    assert not Caller.from_hub_model({**root, "scopes": ["admin:users"]}).admin


@pytest.mark.parametrize(
    ("caller", "role"),
    [
        (user("alice"), "student"),
        (user("teacher"), "staff"),
        (user("helper"), "staff"),
        (user("root", admin=True), "staff"),
        (service("grader-ai-101"), "staff"),
        (service("grader-ml-201"), None),
        (service("alice"), None),  # a service named like a student is not her
        (user("mallory"), None),
    ],
)
def test_roles(caller, role):
    assert role_in(COURSE, caller) == role


def test_refusals_name_the_caller_and_the_course():
    with pytest.raises(Refusal, match="alice is not staff of ai-101") as refused:
        require_staff(COURSE, user("alice"))
    assert refused.value.status == 403
    with pytest.raises(Refusal, match="teacher is not a student of ai-101"):
        require_student(COURSE, user("teacher"))
    with pytest.raises(Refusal, match="service grader-ai-101 is not a student"):
        require_student(COURSE, service("grader-ai-101"))
    with pytest.raises(Refusal, match="bob may only see their own work, not alice's"):
        require_self_or_staff(COURSE, user("bob"), "alice")
    assert require_self_or_staff(COURSE, user("alice"), "alice") == "student"
    assert require_self_or_staff(COURSE, user("helper"), "alice") == "staff"


@dataclass
class Version:
    version: int
    submitted_at: datetime


DUE = datetime(2026, 12, 15, 23, 59, tzinfo=UTC)


def at(minutes: int, version: int) -> Version:
    return Version(version, DUE + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("versions", "due", "chosen"),
    [
        ([at(-30, 1), at(-5, 2)], DUE, 2),  # all on time: the latest
        ([at(-30, 1), at(-5, 2), at(10, 3)], DUE, 2),  # the latest on time
        ([at(0, 1), at(1, 2)], DUE, 1),  # exactly at the deadline counts as on time
        ([at(5, 1), at(10, 2)], DUE, 2),  # none on time: the latest, late
        ([at(5, 1), at(10, 2)], None, 2),  # no due date: the latest
        ([at(10, 2), at(5, 1)], DUE, 2),  # order of the input does not matter
    ],
)
def test_collect_rule(versions, due, chosen):
    assert choose_for_collection(versions, due).version == chosen


def test_collect_rule_without_submissions():
    assert choose_for_collection([], DUE) is None
