"""The GPU usage chart: GPU-hours held per UTC day, one stacked bar colour per course
(courses without GPU-hours in the window are left out of the legend), and inside each day's
bar a narrow dark bar of the GPU-hours used (the GPU busy, all courses): held vs used.

``render(daily, "png" | "svg")`` returns the image bytes. It uses matplotlib's
object-oriented API with the Agg canvas (no pyplot, no display, no global backend), so it
works in the service and in the CLI alike; renders are serialised because matplotlib does
not promise thread safety. SVG text stays text (``svg.fonttype: none``, escaped by
matplotlib) and carries no timestamp, so the same figures give the same bytes.
"""

from __future__ import annotations

import io
import math
import threading
from typing import Literal

from coursehub.gpu.reports import Daily

TITLE = "GPU-hours per day per course (UTC)"
MAX_LABELS = 14
_lock = threading.Lock()


def day_label(day) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def render(daily: Daily, kind: Literal["png", "svg"] = "png") -> bytes:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _lock, rc_context({"svg.fonttype": "none", "svg.hashsalt": "coursehub"}):
        width = min(14.0, max(6.0, 0.35 * len(daily.days) + 3))
        figure = Figure(figsize=(width, 3.6), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots()
        positions = list(range(len(daily.days)))
        bottom = [0.0] * len(daily.days)
        used = {course: hours for course, hours in daily.hours.items() if any(hours)}
        for course, hours in sorted(used.items()):
            axes.bar(positions, hours, bottom=bottom, label=course, width=0.8)
            bottom = [below + value for below, value in zip(bottom, hours, strict=True)]
        used_per_day = [
            sum(values[n] for values in daily.used.values()) for n in range(len(daily.days))
        ]
        if any(used_per_day):
            axes.bar(
                positions,
                used_per_day,
                width=0.3,
                color="#222222",
                label="used (GPU busy), all courses",
            )
        step = max(1, math.ceil(len(daily.days) / MAX_LABELS))
        axes.set_xticks(positions[::step], [day_label(day) for day in daily.days[::step]])
        axes.tick_params(axis="x", labelrotation=45 if step > 1 or len(positions) > 7 else 0)
        axes.set_xlim(-0.6, len(positions) - 0.4)
        axes.set_ylim(0, max([*bottom, 0.0]) * 1.15 or 1.0)
        axes.set_ylabel("GPU-hours held")
        axes.set_title(TITLE)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        if used or any(used_per_day):
            axes.legend(title="course", loc="upper left", fontsize="small")
        buffer = io.BytesIO()
        metadata = {"Date": None} if kind == "svg" else {}
        figure.savefig(buffer, format=kind, dpi=100, metadata=metadata)
        return buffer.getvalue()


def inline_svg(daily: Daily) -> str:
    """The chart as an ``<svg>`` element for an HTML page (XML prolog and DOCTYPE cut)."""
    text = render(daily, "svg").decode()
    return text[text.index("<svg") :]
