"""An assignment's score distribution as an SVG histogram for the course page: how many
students scored in each tenth of the marks (0-10 %, ..., 90-100 %).

matplotlib's object-oriented API on the Agg canvas, as ``coursehub.gpu.usage_chart`` (no
pyplot, no global backend; renders serialised). Text stays text and matplotlib escapes it;
no timestamp, so the same scores give the same bytes.
"""

from __future__ import annotations

import io
import threading

BIN_COUNT = 10
_lock = threading.Lock()


def bin_counts(percentages: list[float]) -> list[int]:
    """Students per tenth of the marks; 100 % falls in the last bin."""
    counts = [0] * BIN_COUNT
    for value in percentages:
        index = min(BIN_COUNT - 1, max(0, int(value // (100 / BIN_COUNT))))
        counts[index] += 1
    return counts


def bin_labels() -> list[str]:
    step = 100 // BIN_COUNT
    return [f"{low}-{low + step}" for low in range(0, 100, step)]


def inline_svg(assignment: str, percentages: list[float]) -> str:
    """The histogram as an ``<svg>`` element (XML prolog and DOCTYPE cut)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = bin_counts(percentages)
    with _lock, rc_context({"svg.fonttype": "none", "svg.hashsalt": "coursehub"}):
        figure = Figure(figsize=(6.4, 3.0), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots()
        axes.bar(range(BIN_COUNT), counts, width=0.85, color="#f37726")
        axes.set_xticks(range(BIN_COUNT), bin_labels(), fontsize="small")
        axes.set_xlabel("score (% of the maximum)")
        axes.set_ylabel("students")
        axes.set_ylim(0, max(counts) * 1.2 or 1)
        axes.yaxis.get_major_locator().set_params(integer=True)
        axes.set_title(f"Scores of {assignment} ({len(percentages)} graded)")
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue().decode()
    return text[text.index("<svg") :]
