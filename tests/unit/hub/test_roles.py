"""Course membership as JupyterHub groups and roles."""

from __future__ import annotations

import re

from jupyterhub.scopes import _check_scopes_exist

from coursehub.hub.roles import build_groups, build_roles, server_access_scopes


def test_two_groups_per_course(catalog):
    assert build_groups(catalog) == {
        "course-ai-101-students": {
            "users": ["student1", "student2"],
            "properties": {"course": "ai-101", "role": "student"},
        },
        "course-ai-101-staff": {
            "users": ["instructor1", "ta1"],
            "properties": {"course": "ai-101", "role": "staff"},
        },
        "course-ml-201-students": {
            "users": ["instructor1", "student3"],
            "properties": {"course": "ml-201", "role": "student"},
        },
        "course-ml-201-staff": {
            "users": ["instructor2"],
            "properties": {"course": "ml-201", "role": "staff"},
        },
    }


def test_staff_role_reaches_only_the_course_students(catalog):
    roles = {role["name"]: role for role in build_roles(catalog)}
    assert set(roles) == {"course-ai-101-staff", "course-ml-201-staff"}
    ai = roles["course-ai-101-staff"]
    assert ai["groups"] == ["course-ai-101-staff"]
    assert ai["scopes"] == [
        "access:services!service=grader-ai-101",
        "access:servers!group=course-ai-101-students",
        "servers!group=course-ai-101-students",
        "read:users!group=course-ai-101-students",
        "list:users!group=course-ai-101-students",
        "read:groups!group=course-ai-101-students",
        "list:groups!group=course-ai-101-students",
        "admin-ui",
    ]
    # every scope must be unfiltered, filtered to the students group or the course's grader
    for scope in ai["scopes"]:
        assert (
            "!" not in scope
            or scope.endswith("!group=course-ai-101-students")
            or scope == "access:services!service=grader-ai-101"
        )


def test_roles_are_valid_for_jupyterhub(catalog):
    # JupyterHub refuses unknown scopes at start and role names outside this pattern.
    for role in build_roles(catalog):
        assert re.fullmatch(r"[a-z][a-z0-9\-_~\.]{1,253}[a-z0-9]", role["name"])
        _check_scopes_exist(role["scopes"], who_for=role["name"])


def test_student_servers_accept_their_course_staff(catalog):
    assert server_access_scopes(catalog, "student1") == [
        "access:servers!group=course-ai-101-students"
    ]
    # instructor1 studies ml-201: their server admits ml-201's staff, not ai-101's
    assert server_access_scopes(catalog, "instructor1") == [
        "access:servers!group=course-ml-201-students"
    ]
    assert server_access_scopes(catalog, "instructor2") == []
