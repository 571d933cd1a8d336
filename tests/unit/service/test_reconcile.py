"""The pure part of group reconciliation and of stopping dropped members' servers."""

from __future__ import annotations

from pathlib import Path

from factories import course, environment

from coursehub.catalog import Catalog
from coursehub.service.reconcile import (
    GroupSpec,
    Operation,
    desired_groups,
    plan_groups,
    servers_to_stop,
)

ENVIRONMENTS = [environment("cpu"), environment("gpu", gpu={"count": 1})]


CATALOG = Catalog(
    root=Path("courses"),
    courses={
        "ai-101": course(
            "ai-101", students=["alice", "bob"], instructors=["teach"], environments=ENVIRONMENTS
        ),
        "ml-201": course(
            "ml-201", students=["carol"], instructors=["prof"], environments=ENVIRONMENTS
        ),
    },
)


def spec(*users: str, course_id: str = "ai-101", role: str = "student") -> GroupSpec:
    return GroupSpec(frozenset(users), {"course": course_id, "role": role})


def in_sync() -> dict[str, GroupSpec]:
    return {
        "course-ai-101-students": spec("alice", "bob"),
        "course-ai-101-staff": spec("teach", role="staff"),
        "course-ai-101-reachable": spec("alice", "bob", role="reachable"),
        "course-ml-201-students": spec("carol", course_id="ml-201"),
        "course-ml-201-staff": spec("prof", course_id="ml-201", role="staff"),
        "course-ml-201-reachable": spec("carol", course_id="ml-201", role="reachable"),
        "coursehub-admins": GroupSpec(frozenset(), {"role": "admin"}),
    }


def test_desired_groups_are_three_per_course_and_the_admins_with_properties():
    assert desired_groups(CATALOG) == in_sync()


def test_staff_of_any_course_and_admins_are_out_of_reach_and_admins_grouped():
    # carol also teaches ai-101, bob is a hub admin: ml-201's staff reach neither
    catalog = Catalog(
        root=Path("courses"),
        courses={
            "ai-101": course(
                "ai-101",
                students=["alice", "bob"],
                instructors=["teach", "carol"],
                environments=ENVIRONMENTS,
            ),
            "ml-201": course(
                "ml-201", students=["carol", "bob"], instructors=["prof"], environments=ENVIRONMENTS
            ),
        },
    )
    desired = desired_groups(catalog, admins={"bob", "root"})
    assert desired["course-ml-201-students"].users == {"carol", "bob"}
    assert desired["course-ml-201-reachable"].users == set()
    assert desired["course-ai-101-reachable"].users == {"alice"}
    assert desired["coursehub-admins"].users == {"bob", "root"}
    # someone who becomes staff elsewhere leaves the reachable group first thing
    plan = plan_groups(desired, in_sync())
    removal = Operation("remove", "course-ml-201-reachable", ("carol",))
    first_add = min(n for n, op in enumerate(plan) if op.kind == "add")
    assert removal in plan and plan.index(removal) < first_add


def test_nothing_to_do_when_the_hub_matches():
    assert plan_groups(desired_groups(CATALOG), in_sync()) == []


def test_missing_groups_are_created_and_their_users_made_to_exist_first():
    plan = plan_groups(desired_groups(CATALOG), {})
    assert plan[0] == Operation("create-users", users=("alice", "bob", "carol", "prof", "teach"))
    assert [op.group for op in plan if op.kind == "create-group"] == sorted(in_sync())
    assert plan[1] == Operation(
        "create-group",
        "course-ai-101-reachable",
        properties={"course": "ai-101", "role": "reachable"},
    )
    added = {op.group: op.users for op in plan if op.kind == "add"}
    assert added["course-ai-101-students"] == ("alice", "bob")
    assert len(plan) == 1 + 7 + 6  # no members to add to the empty admins' group


def test_a_move_from_students_to_staff_removes_before_it_adds():
    actual = in_sync()
    actual["course-ai-101-students"] = spec("alice", "bob", "dave", "teach")
    actual["course-ai-101-staff"] = spec(role="staff")
    plan = plan_groups(desired_groups(CATALOG), actual)
    assert plan == [
        Operation("create-users", users=("teach",)),
        Operation("remove", "course-ai-101-students", ("dave", "teach")),
        Operation("add", "course-ai-101-staff", ("teach",)),
    ]
    assert str(plan[1]) == "remove dave, teach from course-ai-101-students"


def test_other_groups_and_groups_of_unknown_courses_are_left_alone():
    actual = {
        **in_sync(),
        "it-staff": GroupSpec(frozenset({"alice"})),
        "course-gone-101-students": spec("zed", course_id="gone-101"),
    }
    assert plan_groups(desired_groups(CATALOG), actual) == []


def test_wrong_properties_are_set():
    actual = in_sync()
    actual["course-ml-201-staff"] = GroupSpec(frozenset({"prof"}), {})
    assert plan_groups(desired_groups(CATALOG), actual) == [
        Operation(
            "set-properties",
            "course-ml-201-staff",
            properties={"course": "ml-201", "role": "staff"},
        )
    ]


def test_applying_the_plan_converges():
    actual = {"course-ai-101-students": spec("zed"), "other": GroupSpec(frozenset({"x"}))}
    for operation in plan_groups(desired_groups(CATALOG), actual):
        if operation.kind == "create-group":
            actual[operation.group] = GroupSpec(frozenset(), dict(operation.properties))
        elif operation.kind in ("add", "remove"):
            users = set(actual[operation.group].users)
            users = (
                users | set(operation.users)
                if operation.kind == "add"
                else users - set(operation.users)
            )
            actual[operation.group] = GroupSpec(
                frozenset(users), actual[operation.group].properties
            )
    assert plan_groups(desired_groups(CATALOG), actual) == []
    assert actual["other"].users == {"x"}


def user(name: str, profile: str | None = None, admin: bool = False, server=True) -> dict:
    servers = {}
    if server:
        options = {"profile": profile} if profile is not None else {}
        servers[""] = {"name": "", "ready": True, "user_options": options}
    return {"name": name, "admin": admin, "servers": servers}


def test_servers_of_dropped_members_are_stopped_and_no_others():
    users = [
        user("alice", "ai-101-cpu"),  # student of ai-101: keeps it
        user("carol", "ai-101-gpu"),  # not in ai-101 (only ml-201): stopped
        user("zed", "ml-201-cpu"),  # in no course: stopped
        user("teach", "ai-101-gpu"),  # staff: keeps it
        user("root", "ml-201-cpu", admin=True),  # admins may use everything
        user("bob", "gone-101-cpu"),  # course not in the catalog now: left running
        user("dave", None),  # no profile and in no course: stopped
        user("carol", None),  # no profile but in a course: keeps it
        user("erin", server=False),  # nothing running
    ]
    stops = servers_to_stop(CATALOG, users)
    assert [(stop.username, stop.server) for stop in stops] == [
        ("carol", ""),
        ("zed", ""),
        ("dave", ""),
    ]
    assert stops[0].reason == "carol is no longer a member of ai-101 (server 'ai-101-gpu')"


def test_named_servers_are_checked_too():
    model = user("zed", "ai-101-cpu")
    model["servers"]["extra"] = {"name": "extra", "user_options": {"profile": "ai-101-cpu"}}
    assert [(s.username, s.server) for s in servers_to_stop(CATALOG, [model])] == [
        ("zed", ""),
        ("zed", "extra"),
    ]
