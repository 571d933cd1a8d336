"""The settings tables in docs/ are the data of ``coursehub.envvars``: every variable is
documented, and no document names a variable that nothing reads or sets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coursehub.envvars import BY_OWNER, TABLE_START, VARIABLES, with_settings_tables

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
# A variable's name, or a family of them written as ``COURSEHUB_OIDC_*``.
MENTION = re.compile(r"\b(COURSEHUB_[A-Z0-9_]*[A-Z0-9])(_\*)?")


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_each_generated_table_is_current(path):
    text = path.read_text()
    assert with_settings_tables(text) == text, (
        f"{path.relative_to(ROOT)} is out of date: run "
        "`.venv/bin/python -m coursehub.envvars docs/*.md`"
    )


def test_every_settings_object_has_exactly_one_table_in_the_docs():
    tables = [
        match.group(1) for path in DOCUMENTS for match in TABLE_START.finditer(path.read_text())
    ]
    assert sorted(tables) == sorted(BY_OWNER)


def names_in_the_code() -> set[str]:
    """Variable names the program itself reads or sets outside the settings data (the
    CLI's, the pods', the formgrader's)."""
    found = set()
    for path in (ROOT / "coursehub").rglob("*.py"):
        found |= set(re.findall(r"[\"'](COURSEHUB_[A-Z0-9_]*[A-Z0-9])[\"']", path.read_text()))
    return found


def test_every_variable_the_docs_name_exists():
    known = {variable.name for variable in VARIABLES} | names_in_the_code()
    unknown = []
    for path in DOCUMENTS:
        for line_number, line in enumerate(path.read_text().splitlines(), 1):
            for name, family in MENTION.findall(line):
                exists = (
                    any(known_name.startswith(name + "_") for known_name in known)
                    if family
                    else name in known
                )
                if not exists:
                    unknown.append(f"{path.relative_to(ROOT)}:{line_number}: {name}{family}")
    assert unknown == []


def test_the_check_finds_a_documented_variable_that_does_not_exist(tmp_path):
    """The checks above cannot pass by accident: a stale row and a missing one fail."""
    table = next(
        path for path in DOCUMENTS if "settings table: GradingSettings" in path.read_text()
    )
    text = table.read_text()
    stale = text.replace("| `COURSEHUB_GRADING_UID_BASE` |", "| `COURSEHUB_GRADING_UID_BOTTOM` |")
    assert with_settings_tables(stale) != stale
    missing = re.sub(r"\| `COURSEHUB_GRADING_MAX_BATCH` \|[^\n]*\n", "", text)
    assert with_settings_tables(missing) != missing
    assert MENTION.findall("set `COURSEHUB_OIDC_*` or COURSEHUB_X") == [
        ("COURSEHUB_OIDC", "_*"),
        ("COURSEHUB_X", ""),
    ]
