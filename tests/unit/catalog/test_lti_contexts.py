"""Courses name the LMS courses (LTI 1.3 contexts) that launch into them."""

from __future__ import annotations

from catalog_files import DEMO_COURSE, write_course_files

from coursehub.catalog import load_catalog, load_course

LTI_BLOCK = "lti:\n  context_ids: [canvas-4711, 'moodle:12']\n"


def test_a_course_names_its_lti_contexts(write_course):
    course, problems = load_course(write_course(DEMO_COURSE + LTI_BLOCK))
    assert problems == []
    assert course.lti.context_ids == ["canvas-4711", "moodle:12"]


def test_lti_is_optional(write_course):
    course, _ = load_course(write_course(DEMO_COURSE))
    assert course.lti is None


def test_bad_lti_entries_name_their_line(write_course):
    path = write_course(DEMO_COURSE + "lti:\n  context_ids: [a, 'has space', a]\n  iss: x\n")
    course, problems = load_course(path)
    assert course is None
    line = DEMO_COURSE.count("\n") + 2
    assert sorted((p.line, p.field, p.message) for p in problems) == [
        (
            line,
            "lti.context_ids[1]",
            (
                "'has space' is not valid: use the LMS course's LTI context id exactly as the "
                "launch sends it (up to 255 visible ASCII characters, no spaces); the page shown "
                "for an unknown course names it"
            ),
        ),
        (line, "lti.context_ids[2]", "'a' is listed twice (also lti.context_ids[0])"),
        (line + 1, "lti.iss", "unknown key 'iss' (allowed here: context_ids)"),
    ]


def test_empty_context_list_is_refused(write_course):
    course, problems = load_course(write_course(DEMO_COURSE + "lti:\n  context_ids: []\n"))
    assert course is None
    assert [p.field for p in problems] == ["lti.context_ids"]


def test_a_context_launches_into_one_course_only(tmp_path):
    root = tmp_path / "courses"
    first = write_course_files(root, "demo", DEMO_COURSE + LTI_BLOCK)
    other = DEMO_COURSE.replace("id: demo", "id: other").replace("slug: gpu", "slug: g2")
    later = write_course_files(root, "other", other + "lti:\n  context_ids: [x, 'moodle:12']\n")
    catalog = load_catalog(root)
    assert list(catalog.courses) == ["demo"]
    (problem,) = catalog.problems
    assert (problem.path, problem.field) == (later, "lti.context_ids[1]")
    assert problem.line == DEMO_COURSE.count("\n") + 2
    assert problem.message == (
        f"LTI context 'moodle:12' already launches into course 'demo' ({first}); a context "
        "belongs to one course"
    )
    assert catalog.course_for_lti_context("moodle:12").id == "demo"
    assert catalog.course_for_lti_context("x") is None
