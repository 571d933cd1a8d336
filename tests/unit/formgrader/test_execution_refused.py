"""The lines ``coursehub.formgrader.execution`` puts in a course's nbgrader_config.py, read
as nbgrader reads that file, and the sentence a refused autograde shows. (nbgrader's own
commands in such a folder: tests/assignments/test_course_config.py.)"""

from __future__ import annotations

from nbconvert.exporters import Exporter
from traitlets import import_item
from traitlets.config import PyFileConfigLoader

from coursehub.formgrader.config import NO_KERNEL
from coursehub.formgrader.execution import ExecutionRefused, nbgrader_config_lines, refusal


def test_the_converters_that_execute_get_the_refusing_exporter(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n" + nbgrader_config_lines())
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    for converter in ("Autograde", "GenerateSolution"):
        exporter = import_item(config[converter]["exporter_class"])
        assert exporter is ExecutionRefused and issubclass(exporter, Exporter)
    assert config.Execute.kernel_name == NO_KERNEL
    # generate_assignment and generate_feedback are left as nbgrader has them.
    assert "GenerateAssignment" not in config and "GenerateFeedback" not in config


def test_the_sentence_says_what_to_run_instead():
    text = refusal("ai-101", "ps1", "student1")
    assert "\n    coursehub assignment autograde ai-101 ps1 --student student1\n" in text
    assert "coursehub assignment autograde ai-101 ps1\n" in refusal("ai-101", "ps1")
    assert max(len(line) for line in text.splitlines()) <= 72  # the dialog does not wrap
