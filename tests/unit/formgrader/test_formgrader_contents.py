"""What a formgrader's contents API reaches in a course folder (``coursehub.formgrader.contents``),
on a real course-folder layout with Jupyter Server's own file manager underneath."""

from __future__ import annotations

from pathlib import Path

import pytest
from tornado.web import HTTPError

from coursehub.formgrader.contents import CourseFolderContents, CourseFolderFiles, reach


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "list"),
        ("/", "list"),
        ("source", "read"),
        ("source/ps1", "write"),
        ("source/ps1/ps1.ipynb", "write"),
        ("/source/ps1/data/x.csv", "write"),
        ("release", "read"),
        ("release/ps1/ps1.ipynb", "read"),
        ("nbgrader_config.py", None),
        ("gradebook.db", None),
        ("submitted/student1/ps1/ps1.ipynb", None),
        ("autograded/student1/ps1/notes.html", None),
        ("feedback/student1/ps1/ps1.html", None),
        ("../ml-201/gradebook.db", None),
        ("source/../nbgrader_config.py", None),
        ("source/./ps1", None),
        ("source\\..\\nbgrader_config.py", None),
        ("sources/ps1", None),
    ],
)
def test_reach(path, expected):
    assert reach(path) == expected


@pytest.fixture
def course(tmp_path: Path) -> Path:
    root = tmp_path / "workspaces/ai-101"
    for name in ("source/ps1", "release/ps1", "submitted/student1/ps1", "autograded", "feedback"):
        (root / name).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text("c.CourseDirectory.course_id = 'ai-101'\n")
    (root / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (root / "source/ps1/ps1.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    (root / "release/ps1/ps1.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    (root / "submitted/student1/ps1/notes.html").write_text("<script>x</script>")
    (tmp_path / "workspaces/ml-201").mkdir()
    (tmp_path / "workspaces/ml-201/gradebook.db").write_bytes(b"other course")
    return root


@pytest.fixture
def contents(course: Path) -> CourseFolderContents:
    return CourseFolderContents(root_dir=str(course))


def text_file(content: str) -> dict:
    return {"type": "file", "format": "text", "content": content}


async def test_the_folder_lists_sources_and_releases_only(contents):
    listing = await contents.get("")
    assert sorted(item["name"] for item in listing["content"]) == ["release", "source"]
    assert (await contents.get("release/ps1/ps1.ipynb"))["type"] == "notebook"


@pytest.mark.parametrize(
    "path",
    [
        "nbgrader_config.py",
        "gradebook.db",
        "submitted/student1/ps1/notes.html",
        "submitted",
        "../ml-201/gradebook.db",
        "source/../../ml-201/gradebook.db",
    ],
)
async def test_the_rest_is_refused_with_a_sentence(contents, path):
    with pytest.raises(HTTPError) as refused:
        await contents.get(path)
    assert refused.value.status_code == 403
    assert "not reachable in the formgrader" in refused.value.log_message
    assert not await contents.file_exists(path)


async def test_staff_write_sources_and_nothing_else(contents, course: Path):
    await contents.save(text_file("hints\n"), "source/ps1/hints.txt")
    assert (course / "source/ps1/hints.txt").read_text() == "hints\n"
    await contents.rename("source/ps1/hints.txt", "source/ps1/tips.txt")
    assert (course / "source/ps1/tips.txt").exists()
    await contents.new_untitled("source/ps1", type="directory")
    before = (course / "nbgrader_config.py").read_text()
    attempts = [
        contents.save(text_file("import os\n"), "nbgrader_config.py"),
        contents.save(text_file("import os\n"), "traitlets.py"),
        contents.save(text_file("x"), "release/ps1/x.txt"),
        contents.save(text_file("x"), "source"),
        contents.rename("source/ps1/tips.txt", "nbgrader_config.py"),
        contents.rename("source/ps1", "release/ps2"),
        contents.delete("source"),
        contents.delete("release/ps1/ps1.ipynb"),
        contents.copy("source/ps1", ""),
        contents.copy("source/ps1/ps1.ipynb", "release/ps1"),
        contents.new_untitled("", type="file", ext=".py"),
        contents.create_checkpoint("release/ps1/ps1.ipynb"),
    ]
    for attempt in attempts:
        with pytest.raises(HTTPError) as refused:
            await attempt
        assert refused.value.status_code == 403
    assert (course / "nbgrader_config.py").read_text() == before
    assert not (course / "traitlets.py").exists()
    assert sorted(path.name for path in course.iterdir()) == [
        "autograded",
        "feedback",
        "gradebook.db",
        "nbgrader_config.py",
        "release",
        "source",
        "submitted",
    ]
    # Copies within the sources are authoring too.
    await contents.copy("source/ps1", "source")
    assert (course / "source/ps1-Copy1/ps1.ipynb").exists()


def test_files_are_served_with_the_same_reach(contents, course: Path):
    assert contents.files_handler_class is CourseFolderFiles
    assert contents.files_handler_params == {"path": str(course)}
