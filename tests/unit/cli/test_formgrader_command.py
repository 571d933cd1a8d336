"""``coursehub formgrader``: ``prepare`` lays out every course's folder with the service's
settings (the chart's init container), and ``serve`` refuses a folder nobody prepared, naming
it and the command that prepares it."""

from __future__ import annotations

from pathlib import Path

from coursehub.cli import main
from coursehub.formgrader.config import WORKSPACE_CONFIG

COURSES = Path(__file__).resolve().parents[3] / "courses"


def test_prepare_lays_out_every_course_folder_with_the_services_settings(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("COURSEHUB_SERVICE_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("COURSEHUB_COURSES_DIR", str(COURSES))
    monkeypatch.delenv("COURSEHUB_SERVICE_DB_URL", raising=False)
    assert main(["formgrader", "prepare"]) == 0
    printed = capsys.readouterr().out
    for course in ("ai-101", "ml-201"):
        folder = tmp_path / "store" / "workspaces" / course
        config = (folder / WORKSPACE_CONFIG).read_text()
        assert f"c.CourseDirectory.course_id = {course!r}" in config
        assert f"sqlite:///{folder / 'gradebook.db'}" in config
        assert f"{course}: {folder}" in printed
    # The catalog's sources are seeded, as the service does on first use.
    assert (tmp_path / "store/workspaces/ai-101/source/ps1/ps1.ipynb").is_file()


def test_serve_refuses_an_unprepared_folder_naming_it_and_the_fix(tmp_path, capsys):
    workspace = tmp_path / "workspaces" / "ai-101"
    workspace.mkdir(parents=True)
    code = main(
        [
            "formgrader",
            "serve",
            "ai-101",
            f"--workspace={workspace}",
            f"--jupyter-dir={tmp_path / 'jupyter'}",
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert str(workspace) in error
    assert f"no {WORKSPACE_CONFIG}" in error
    assert "coursehub formgrader prepare" in error
