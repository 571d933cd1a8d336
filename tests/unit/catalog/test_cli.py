"""``coursehub course validate`` as a real subprocess: exit codes and messages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COURSEHUB = Path(sys.executable).with_name("coursehub")


def validate(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COURSEHUB), "course", "validate", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_sample_courses_are_valid(repo_root):
    result = validate(cwd=repo_root)  # default PATH: ./courses
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        (
            "ai-101 (2026-fall) 'Introduction to Deep Learning': 2 environment(s) "
            "[gpu: 1 x nvidia.com/gpu (default), cpu], 2 staff, 5 student(s)"
        ),
        (
            "ml-201 (2026-fall) 'Applied Machine Learning': 2 environment(s) "
            "[mig: 1 x nvidia.com/mig-1g.10gb (default), cpu], 1 staff, 1 student(s)"
        ),
    ]


@pytest.mark.parametrize("target", ["courses/ml-201", "courses/ml-201/course.yaml"])
def test_one_course_folder_or_file(repo_root, target):
    result = validate(target, cwd=repo_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ml-201 (2026-fall)")
    assert len(result.stdout.splitlines()) == 1


def test_a_broken_copy_fails_with_file_line_messages(tmp_path, sample_courses):
    courses = tmp_path / "courses"
    shutil.copytree(sample_courses, courses)
    course_file = courses / "ai-101" / "course.yaml"
    lines = course_file.read_text().splitlines(keepends=True)
    count_line = lines.index("      count: 1\n") + 1
    lines[count_line - 1] = "      count: -1\n"
    course_file.write_text("".join(lines))
    with (courses / "ai-101" / "roster.csv").open("a") as roster:
        roster.write("Student1,dup@example.edu,Shouting\n")
    roster_line = len((courses / "ai-101" / "roster.csv").read_text().splitlines())

    result = validate("courses", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("ml-201 (2026-fall)")  # the valid course is still listed
    assert result.stderr.splitlines() == [
        (
            f"courses/ai-101/course.yaml:{count_line}: environments[0].gpu.count: "
            "Input should be greater than or equal to 0 (got -1)"
        ),
        (
            f"courses/ai-101/roster.csv:{roster_line}: students (roster row {roster_line}): "
            "username 'Student1' is not valid: write 'student1'"
        ),
        "2 problem(s) in 2 file(s)",
    ]


def test_a_yaml_syntax_error(tmp_path, sample_courses):
    shutil.copytree(sample_courses / "ml-201", tmp_path / "ml-201")
    course_file = tmp_path / "ml-201" / "course.yaml"
    text = course_file.read_text().replace("[instructor2]", "[instructor2")
    course_file.write_text(text)
    result = validate(course_file, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{course_file}:")
    assert ": (YAML syntax): while parsing a flow sequence" in first


def test_a_missing_path_exits_2(tmp_path):
    result = validate("nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "coursehub course validate: nowhere does not exist"


def test_a_folder_without_courses_exits_1(tmp_path):
    result = validate(".", cwd=tmp_path)
    assert result.returncode == 1
    assert "no course found under ." in result.stderr
