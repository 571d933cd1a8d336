"""Loading course files: every kind of problem is reported with its file, line and field."""

from __future__ import annotations

import pytest
from catalog_files import (
    DEMO_COURSE,
    LINE_CPU,
    LINE_ENV1_SLUG,
    LINE_GPU,
    LINE_ID,
    LINE_MEMORY,
    LINE_STUDENTS,
    LINE_TAS,
    LINE_TERM,
    problems_of,
    write_course_files,
)

from coursehub.catalog import Catalog, CatalogError, CatalogProblem, load_catalog, load_course


def edit(old: str, new: str) -> str:
    assert old in DEMO_COURSE, old
    return DEMO_COURSE.replace(old, new, 1)


def test_the_demo_course_is_valid(write_course):
    course, problems = load_course(write_course(DEMO_COURSE))
    assert problems == []
    assert course is not None
    assert course.id == "demo"
    assert [env.slug for env in course.environments] == ["gpu", "cpu"]
    assert course.environments[0].gpu.resource == "nvidia.com/gpu"
    assert course.environments[0].cpu.limit == 2
    assert course.students == ["alice", "bob"]


# (name, course text, expected (line, field, words in the message))
SINGLE_PROBLEMS = [
    (
        "unknown key",
        edit("    default: true\n", "    default: true\n    gpus: 2\n"),
        (LINE_GPU + 2, "environments[0].gpus", "unknown key 'gpus'; did you mean 'gpu'?"),
    ),
    (
        "unknown key at the top",
        edit("term: 2026-fall\n", "term: 2026-fall\ntutors: [x]\n"),
        (LINE_TERM + 1, "tutors", "unknown key 'tutors'"),
    ),
    (
        "wrong type",
        edit("term: 2026-fall", "term: 2026"),
        (LINE_TERM, "term", "Input should be a valid string (got 2026); put it in quotes"),
    ),
    (
        "count in quotes",
        edit("count: 1,", "count: '1',"),
        (LINE_GPU, "environments[0].gpu.count", "valid integer (got '1'); write it without"),
    ),
    (
        "negative gpu count",
        edit("count: 1,", "count: -1,"),
        (LINE_GPU, "environments[0].gpu.count", "Input should be greater than or equal to 0"),
    ),
    (
        "bad quantity",
        edit("limit: 2Gi}", "limit: 2GB}"),
        (LINE_MEMORY, "environments[0].memory.limit", "'2GB' is not a Kubernetes quantity"),
    ),
    (
        "guarantee above limit",
        edit("cpu: {guarantee: 1, limit: 2}", "cpu: {guarantee: 4, limit: 2}"),
        (LINE_CPU, "environments[0].cpu", "guarantee 4 is larger than limit 2"),
    ),
    (
        "gpu resource not nvidia",
        edit("gpu: {count: 1,", "gpu: {count: 1, resource: amd.com/gpu,"),
        (LINE_GPU, "environments[0].gpu.resource", "'amd.com/gpu' is not valid: use 'nvidia"),
    ),
    (
        "duplicate environment slug",
        edit("  - slug: cpu", "  - slug: gpu"),
        (LINE_ENV1_SLUG, "environments[1].slug", "duplicate environment slug 'gpu'"),
    ),
    (
        "two defaults",
        edit("    image: example.org/cpu:1\n", "    image: example.org/cpu:1\n    default: true\n"),
        (LINE_ENV1_SLUG + 3, "environments[1].default", "environments[0] is already the default"),
    ),
    (
        "staff and student",
        edit("tas: [helper]", "tas: [bob]"),
        (LINE_TAS, "staff.tas[0]", "user 'bob' is listed both as staff (tas) and as a student"),
    ),
    (
        "student listed twice",
        edit("students: [alice, bob]", "students: [alice, bob, alice]"),
        (LINE_STUDENTS, "students[2]", "'alice' is listed twice"),
    ),
    (
        "bad username",
        edit("students: [alice, bob]", "students: [alice, Bob Smith]"),
        (LINE_STUDENTS, "students[1]", "'Bob Smith' is not valid: usernames are lower case"),
    ),
    (
        "missing required key points at its parent",
        edit("    image: example.org/cpu:1\n", ""),
        (LINE_ENV1_SLUG, "environments[1].image", "missing required key 'image'"),
    ),
    (
        "folder name differs from id",
        edit("id: demo", "id: demo-2"),
        (LINE_ID, "id", "id 'demo-2' does not match its folder 'demo'"),
    ),
    (
        "yaml syntax error",
        edit("students: [alice, bob]", "students: [alice, bob"),
        (LINE_STUDENTS + 1, "(YAML syntax)", "while parsing a flow sequence"),
    ),
    (
        "duplicate key",
        edit("term: 2026-fall\n", "term: 2026-fall\nterm: 2027-spring\n"),
        (LINE_TERM + 1, "(YAML syntax)", 'found duplicate key "term"'),
    ),
    (
        "a list, not a mapping",
        "- id: demo\n",
        (1, "(file)", "a course file is a mapping of keys"),
    ),
    ("empty file", "# nothing yet\n", (None, "(file)", "the file is empty")),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in SINGLE_PROBLEMS],
    ids=[case[0] for case in SINGLE_PROBLEMS],
)
def test_one_problem_with_its_line(write_course, text, expected):
    path = write_course(text)
    problems = problems_of(path)
    assert len(problems) == 1, problems
    name, line, field, message = problems[0]
    assert (name, line, field) == ("course.yaml", *expected[:2])
    assert expected[2] in message


def test_problem_text_is_file_line_field_message(write_course):
    path = write_course(edit("count: 1,", "count: -1,"))
    _, problems = load_course(path)
    assert str(problems[0]) == (
        f"{path}:{LINE_GPU}: environments[0].gpu.count: "
        "Input should be greater than or equal to 0 (got -1)"
    )
    assert str(CatalogProblem(path, None, "(file)", "empty")) == f"{path}: (file): empty"


def test_several_problems_in_one_file_are_all_reported(write_course):
    text = (
        edit("count: 1,", "count: -1,")
        .replace("limit: 2Gi}", "limit: 2GB}")
        .replace("  - slug: cpu", "  - slug: gpu")
        .replace("tas: [helper]", "tas: [bob]")
        .replace("term: 2026-fall", "term: 2026")
    )
    problems = problems_of(write_course(text))
    assert [(line, field) for _, line, field, _ in problems] == [
        (LINE_TERM, "term"),
        (LINE_MEMORY, "environments[0].memory.limit"),
        (LINE_GPU, "environments[0].gpu.count"),
        (LINE_ENV1_SLUG, "environments[1].slug"),
        (LINE_TAS, "staff.tas[0]"),
    ]


def test_a_missing_top_level_key_has_no_line(write_course):
    problems = problems_of(write_course(edit("title: Demo course\n", "")))
    assert problems == [("course.yaml", None, "title", "missing required key 'title'")]


# ---------------------------------------------------------------------------------------
# Rosters

ROSTER_COURSE = edit("students: [alice, bob]", "students: {roster: roster.csv}")


def test_roster_with_comments_blank_lines_and_quoted_names(write_course):
    roster = (
        "# exported 2026-08-01\n"
        "username,email,name\n"
        "\n"
        "alice,alice@example.edu,Alice Liddell\n"
        '"bob",bob@example.edu,"Smith, Bob"\n'
        "  # a comment after data\n"
        "carol,,\n"
    )
    course, problems = load_course(write_course(ROSTER_COURSE, roster=roster))
    assert problems == []
    assert course.students == ["alice", "bob", "carol"]


def test_roster_may_have_only_a_username_column(write_course):
    course, problems = load_course(write_course(ROSTER_COURSE, roster="username\nalice\n"))
    assert problems == [] and course.students == ["alice"]


def test_roster_rows_are_reported_with_their_csv_line(write_course):
    roster = (
        "username,email,name\n"  # 1
        "alice,alice@example.edu,Alice\n"  # 2
        "# comment\n"  # 3
        "Bob,bob@example.edu,Bob\n"  # 4: upper case
        "carol,carol@example.edu\n"  # 5: too few values
        '"dave",dave@example.edu,"Dave\n'  # 6: a quoted name over two lines
        'Jones"\n'  # 7
        "alice,alice2@example.edu,Alice again\n"  # 8: duplicate
        "erin,not-an-email,Erin\n"  # 9
        ",x@example.edu,Nobody\n"  # 10
        "frank!,frank@example.edu,Frank\n"  # 11
    )
    problems = problems_of(write_course(ROSTER_COURSE, roster=roster))
    assert [(name, line, field) for name, line, field, _ in problems] == [
        ("roster.csv", n, f"students (roster row {n})") for n in (4, 5, 8, 9, 10, 11)
    ]
    messages = [message for *_, message in problems]
    assert messages[0] == "username 'Bob' is not valid: write 'bob'"
    assert messages[1].startswith("2 value(s) but the header has 3 column(s)")
    assert messages[2] == "username 'alice' is already listed on line 2"
    assert messages[3] == "email 'not-an-email' is not an email address"
    assert messages[4] == "the username is empty"
    assert "usernames are lower case" in messages[5]


def test_roster_header_must_name_known_columns(write_course):
    roster = "# roster\nusername,email,grade\nalice,a@example.edu,A\n"
    problems = problems_of(write_course(ROSTER_COURSE, roster=roster))
    assert len(problems) == 1
    name, line, field, message = problems[0]
    assert (name, line, field) == ("roster.csv", 2, "students (roster row 2)")
    assert "unknown column(s) 'grade'" in message


def test_roster_header_needs_username(write_course):
    problems = problems_of(write_course(ROSTER_COURSE, roster="email\na@example.edu\n"))
    assert problems[0][1] == 1 and "no 'username' column" in problems[0][3]


def test_missing_roster_file(write_course):
    path = write_course(ROSTER_COURSE)
    problems = problems_of(path)
    assert problems == [
        (
            "course.yaml",
            LINE_STUDENTS,
            "students.roster",
            f"roster file {path.parent / 'roster.csv'} does not exist",
        )
    ]


def test_unreadable_roster_file(write_course):
    problems = problems_of(write_course(ROSTER_COURSE, roster=b"username\n\xff\xfe\n"))
    assert len(problems) == 1
    name, line, field, message = problems[0]
    assert (name, line, field) == ("course.yaml", LINE_STUDENTS, "students.roster")
    assert message.startswith("cannot read roster") and "utf-8" in message


def test_roster_outside_the_course_folder_is_refused(write_course):
    text = edit("students: [alice, bob]", "students: {roster: ../other/roster.csv}")
    problems = problems_of(write_course(text))
    assert problems[0][1:3] == (LINE_STUDENTS, "students.roster")
    assert "must be a file inside the course folder" in problems[0][3]


def test_students_mapping_with_an_unknown_key(write_course):
    text = edit("students: [alice, bob]", "students: {roster: roster.csv, file: x.csv}")
    problems = problems_of(write_course(text, roster="username\nalice\n"))
    assert problems[0][1:3] == (LINE_STUDENTS, "students.file")


def test_staff_in_the_roster_names_the_roster_line(write_course):
    text = ROSTER_COURSE.replace("tas: [helper]", "tas: [bob]")
    problems = problems_of(write_course(text, roster="username\nalice\nbob\n"))
    assert len(problems) == 1
    name, line, field, message = problems[0]
    assert (name, line, field) == ("course.yaml", LINE_TAS, "staff.tas[0]")
    assert "'bob'" in message and "the roster lists them on line 3" in message


# ---------------------------------------------------------------------------------------
# emails: the address each listed person signs in with

EMAILS_COURSE = DEMO_COURSE + (
    "emails:\n"  # line 19
    "  teacher: Teacher@Uni.example\n"  # 20
    "  alice: alice@uni.example\n"  # 21
)
LINE_EMAILS = 19


def test_emails_give_listed_people_their_address(write_course):
    course, problems = load_course(write_course(EMAILS_COURSE))
    assert problems == []
    assert course.emails == {"teacher": "Teacher@Uni.example", "alice": "alice@uni.example"}


def test_a_roster_files_email_column_counts_too(write_course):
    text = ROSTER_COURSE + "emails:\n  teacher: teacher@uni.example\n"
    roster = "username,email\nalice,Alice@uni.example\nbob,\n"
    course, problems = load_course(write_course(text, roster=roster))
    assert problems == []
    assert course.emails == {"teacher": "teacher@uni.example", "alice": "Alice@uni.example"}


@pytest.mark.parametrize(
    ("entry", "line", "field", "words"),
    [
        ("  bob: not-an-address", LINE_EMAILS + 3, "emails.bob", "write the e-mail address"),
        ("  bob: 'bob@uni.example\n'", LINE_EMAILS + 3, "emails.bob", "write the e-mail"),
        ("  Bob: bob@uni.example", LINE_EMAILS + 3, "emails.Bob.[key]", "usernames are lower"),
        ("  mallory: m@uni.example", LINE_EMAILS + 3, "emails.mallory", "not one of this course"),
        ("  bob: ALICE@uni.example", LINE_EMAILS + 3, "emails.bob", "also the address of 'alice'"),
    ],
    ids=["not-an-address", "trailing-newline", "bad-username", "not-a-member", "shared"],
)
def test_bad_emails_are_reported_with_their_line(write_course, entry, line, field, words):
    problems = problems_of(write_course(EMAILS_COURSE + entry + "\n"))
    assert len(problems) == 1, problems
    name, got_line, got_field, message = problems[0]
    assert (name, got_line, got_field) == ("course.yaml", line, field)
    assert words in message


def test_emails_and_the_roster_must_agree(write_course):
    text = ROSTER_COURSE + "emails:\n  alice: alice@elsewhere.example\n"
    roster = "username,email\nalice,alice@uni.example\n"
    problems = problems_of(write_course(text, roster=roster))
    assert problems == [
        (
            "course.yaml",
            LINE_EMAILS + 1,
            "emails.alice",
            (
                "'alice@elsewhere.example' differs from the address roster.csv gives on line 2 "
                "('alice@uni.example'); give one address"
            ),
        )
    ]


def test_one_address_for_two_roster_students_names_the_roster_row(write_course):
    roster = "username,email\nalice,a@uni.example\nbob,A@uni.example\n"
    problems = problems_of(write_course(ROSTER_COURSE, roster=roster))
    assert [(name, line) for name, line, *_ in problems] == [("roster.csv", 3)]
    assert "also the address of 'alice'" in problems[0][3]


# ---------------------------------------------------------------------------------------
# Whole catalogs


def test_the_sample_courses_load_without_problems(sample_courses):
    catalog = load_catalog(sample_courses)
    assert catalog.problems == ()
    assert list(catalog.courses) == ["ai-101", "ml-201"]
    ai, ml = catalog.courses["ai-101"], catalog.courses["ml-201"]
    assert ai.title == "Introduction to Deep Learning"
    assert ai.staff.instructors == ["instructor1"]
    assert {"student1", "student2"} <= set(ai.students)
    assert ml.students == ["student3"]
    assert ml.environment("mig").gpu.resource == "nvidia.com/mig-1g.10gb"
    assert ai.environment("gpu").default and ai.environment("gpu").gpu_count == 1
    assert ai.environment("cpu").gpu_count == 0
    assert sample_courses / "ai-101" / "roster.csv" in catalog.files


def test_demo_accounts_have_exactly_their_roles(sample_courses):
    catalog = load_catalog(sample_courses)

    def roles(username: str) -> list[tuple[str, str]]:
        return [(course.id, role) for course, role in catalog.memberships(username)]

    assert roles("instructor1") == [("ai-101", "staff")]
    assert roles("student1") == [("ai-101", "student")]
    assert roles("student2") == [("ai-101", "student")]
    assert roles("student3") == [("ml-201", "student")]
    assert roles("nobody") == []
    assert {"instructor1", "instructor2", "student1", "student2", "student3"} <= (
        catalog.usernames()
    )


def test_profile_lookup(sample_courses):
    catalog = load_catalog(sample_courses)
    course, environment = catalog.profile("ml-201-mig")
    assert (course.id, environment.slug) == ("ml-201", "mig")
    assert catalog.profile("ml-201-gpu") is None


def test_memberships_are_sorted_by_course_id(tmp_path):
    root = tmp_path / "courses"
    for course_id in ("zz-9", "aa-1"):
        text = DEMO_COURSE.replace("id: demo", f"id: {course_id}")
        write_course_files(root, course_id, text)
    catalog = load_catalog(root)
    assert [(c.id, role) for c, role in catalog.memberships("alice")] == [
        ("aa-1", "student"),
        ("zz-9", "student"),
    ]
    assert [(c.id, role) for c, role in catalog.memberships("teacher")] == [
        ("aa-1", "staff"),
        ("zz-9", "staff"),
    ]


def test_a_broken_course_is_left_out_and_the_others_load(tmp_path):
    root = tmp_path / "courses"
    write_course_files(root, "demo", DEMO_COURSE)
    broken = write_course_files(
        root,
        "other",
        DEMO_COURSE.replace("id: demo", "id: other").replace("count: 1,", "count: -1,"),
    )
    catalog = load_catalog(root)
    assert list(catalog.courses) == ["demo"]
    assert [(p.path, p.line, p.field) for p in catalog.problems] == [
        (broken, LINE_GPU, "environments[0].gpu.count")
    ]


def test_the_same_course_id_twice(tmp_path):
    root = tmp_path / "courses"
    first = write_course_files(root, "demo", DEMO_COURSE)
    copy = write_course_files(root, "demo-copy", DEMO_COURSE)
    catalog = load_catalog(root)
    assert list(catalog.courses) == ["demo"]
    assert [(p.path, p.line, p.field) for p in catalog.problems] == [
        (copy, LINE_ID, "id"),
        (copy, LINE_ID, "id"),
    ]
    messages = sorted(p.message for p in catalog.problems)
    assert messages[0] == f"course id 'demo' is also used by {first}; course ids must be unique"
    assert messages[1].startswith("id 'demo' does not match its folder 'demo-copy'")


def test_profile_slug_collision_between_courses(tmp_path):
    root = tmp_path / "courses"
    env = "environments:\n  - {slug: %s, display_name: X, image: img}\n"
    first = write_course_files(root, "a", "id: a\ntitle: A\nterm: t\n" + env % "b-c")
    later = write_course_files(root, "a-b", "id: a-b\ntitle: AB\nterm: t\n" + env % "c")
    catalog = load_catalog(root)
    assert list(catalog.courses) == ["a"]
    (problem,) = catalog.problems
    assert (problem.path, problem.line, problem.field) == (later, 5, "environments[0].slug")
    assert problem.message == (
        "profile slug 'a-b-c' (course 'a-b' + environment 'c') is also the profile of "
        f"course 'a' + environment 'b-c' in {first}; rename one environment"
    )


def test_folders_without_a_course_file_are_ignored_but_course_yml_is_named(tmp_path):
    root = tmp_path / "courses"
    write_course_files(root, "demo", DEMO_COURSE)
    (root / "notes").mkdir()
    (root / ".git").mkdir()
    (root / ".git" / "course.yaml").write_text("not: a course\n")
    (root / "old").mkdir()
    (root / "old" / "course.yml").write_text(DEMO_COURSE)
    (root / "README.md").write_text("courses\n")
    catalog = load_catalog(root)
    assert list(catalog.courses) == ["demo"]
    assert [(p.path, p.message) for p in catalog.problems] == [
        (root / "old" / "course.yml", "rename this file to course.yaml")
    ]


def test_catalog_is_read_only(sample_courses):
    catalog = load_catalog(sample_courses)
    assert isinstance(catalog, Catalog)
    with pytest.raises(TypeError):
        catalog.courses["x"] = catalog.courses["ai-101"]  # type: ignore[index]


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p / "file.txt"])
def test_a_missing_root_raises(tmp_path, make):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CatalogError, match="course catalog"):
        load_catalog(make(tmp_path))
