"""An IPython shell that records what a Jupyter kernel would send for each cell.

The grading sandbox runs student code in a process forked from a warm template (IPython and
the course's libraries already imported), so it skips a kernel's start-up and ZeroMQ. This
shell gives the same outputs a kernel gives nbgrader: ``stream``, ``display_data``,
``execute_result`` and ``error`` in nbformat's shape, built the way ipykernel's
``ZMQInteractiveShell`` builds them (it overrides the same three hooks).

Output is capped per cell: past ``max_output_bytes`` it is dropped and one line says so,
so 100 MB of prints cost neither memory nor the feedback's size.
"""

from __future__ import annotations

import io
import json
import sys

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets import Type
from traitlets.config import Config

TRUNCATED = "\n[output truncated: this cell printed more than {limit} KB]\n"


class OutputRecorder:
    """The outputs of the cell being run, in nbformat's shape, with a size budget."""

    def __init__(self, max_output_bytes: int):
        self.max_output_bytes = max_output_bytes
        self.reset()

    def reset(self) -> None:
        self.outputs: list[dict] = []
        self.used = 0
        self.truncated = False

    def _room(self) -> int:
        return 0 if self.truncated else self.max_output_bytes - self.used

    def _truncate(self, name: str = "stdout") -> None:
        # On the stream that overflowed: a note on stderr would fail the cell in nbgrader.
        self.truncated = True
        limit_kb = self.max_output_bytes // 1024
        self._append_stream(name, TRUNCATED.format(limit=limit_kb))

    def add_stream(self, name: str, text: str) -> None:
        if not text or self.truncated:
            return
        size = len(text.encode(errors="replace"))
        if size > self._room():
            text = text.encode(errors="replace")[: self._room()].decode(errors="ignore")
            self._append_stream(name, text)
            self._truncate(name)
            return
        self.used += size
        self._append_stream(name, text)

    def _append_stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text  # consecutive writes are one output, as in a notebook
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def add_rich(self, output_type: str, data: dict, metadata: dict, **extra) -> None:
        size = len(json.dumps(data, default=str))
        if self.truncated:
            return
        if size > self._room():
            self._truncate()
            return
        self.used += size
        self.outputs.append(
            {"output_type": output_type, "data": data, "metadata": metadata, **extra}
        )

    def add_error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        size = sum(len(line) for line in traceback) + len(evalue)
        if size > self.max_output_bytes // 2:  # a huge message still says what failed
            traceback = traceback[-3:]
            evalue = evalue[:2000]
        self.outputs.append(
            {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}
        )

    def clear(self) -> None:
        self.outputs = [o for o in self.outputs if o["output_type"] == "error"]


class RecordingStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` inside the sandbox."""

    def __init__(self, name: str, recorder: OutputRecorder):
        self.name = name
        self.recorder = recorder

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.recorder.add_stream(self.name, text)
        return len(text)

    def isatty(self) -> bool:
        return False


class RecordingDisplayPublisher(DisplayPublisher):
    recorder: OutputRecorder

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        self.recorder.add_rich("display_data", dict(data), dict(metadata or {}))

    def clear_output(self, wait=False):
        self.recorder.clear()


class RecordingDisplayHook(DisplayHook):
    recorder: OutputRecorder

    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        self.recorder.add_rich(
            "execute_result",
            dict(format_dict),
            dict(md_dict or {}),
            execution_count=self.prompt_count,
        )

    def finish_displayhook(self):
        sys.stdout.flush()
        sys.stderr.flush()


class RecordingShell(InteractiveShell):
    """``InteractiveShell`` whose display, results and tracebacks go to a recorder."""

    displayhook_class = Type(RecordingDisplayHook)
    display_pub_class = Type(RecordingDisplayPublisher)

    def __init__(self, recorder: OutputRecorder, **kwargs):
        self.recorder = recorder
        super().__init__(**kwargs)
        self.display_pub.recorder = recorder
        self.displayhook.recorder = recorder
        self.system = self.system_piped  # `!cmd` output goes through sys.stdout, as in a kernel

    def _showtraceback(self, etype, evalue, stb):
        self.recorder.add_error(getattr(etype, "__name__", str(etype)), str(evalue), list(stb))

    def run(self, source: str) -> dict:
        """Run one cell; what a kernel's execute_reply plus its iopub outputs would say."""
        self.recorder.reset()
        result = self.run_cell(source, store_history=True, silent=False)
        ok = result.error_before_exec is None and result.error_in_exec is None
        return {
            "status": "ok" if ok else "error",
            "execution_count": self.execution_count - 1,
            "outputs": self.recorder.outputs,
        }


def make_shell(max_output_bytes: int) -> RecordingShell:
    recorder = OutputRecorder(max_output_bytes)
    # The singleton: IPython's display() finds the shell through InteractiveShell.instance().
    # History in memory: no SQLite file in the submission's folder and no saving thread,
    # which IPython restarts after every fork and which a fork bomb leaves no room for.
    config = Config({"HistoryManager": {"hist_file": ":memory:"}})
    shell = RecordingShell.instance(
        recorder=recorder, colors="nocolor", history_length=0, config=config
    )
    sys.stdout = RecordingStream("stdout", recorder)
    sys.stderr = RecordingStream("stderr", recorder)
    return shell
