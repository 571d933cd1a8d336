"""The chart (real matplotlib renders) and the CLI's own checks and error lines."""

from __future__ import annotations

import os
import struct
from datetime import date

import pytest

from coursehub.cli.connection import CLIError, one_line
from coursehub.cli.usage import check_plot_path
from coursehub.exchange.client import ServiceError
from coursehub.gpu.reports import Daily
from coursehub.gpu.usage_chart import inline_svg, render

DAILY = Daily(
    [date(2025, 1, 6), date(2025, 1, 7)],
    {"ai-101": [2.0, 1.5], "<ml-201>": [0.5, 0.0]},
)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_chart_is_a_real_png_of_a_readable_size():
    width, height = png_size(render(DAILY, "png"))
    assert 500 <= width <= 1500 and 300 <= height <= 400
    # A long window gets a wider figure, capped.
    days = [date(2025, 1, 1).fromordinal(date(2025, 1, 1).toordinal() + n) for n in range(90)]
    width, _ = png_size(render(Daily(days, {"ai-101": [1.0] * 90}), "png"))
    assert width == 1400


def test_inline_svg_is_an_svg_element_with_escaped_text_and_stable_bytes():
    svg = inline_svg(DAILY)
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert "ai-101" in svg and "&lt;ml-201&gt;" in svg and "<ml-201>" not in svg
    assert "GPU-hours per day per course (UTC)" in svg
    assert inline_svg(DAILY) == svg


def test_the_chart_shows_used_beside_held_only_when_something_was_used():
    used = Daily(DAILY.days, DAILY.hours, {"ai-101": [0.5, 0.25], "<ml-201>": [0.0, 0.0]})
    svg = inline_svg(used)
    assert "used (GPU busy), all courses" in svg and "GPU-hours held" in svg
    assert "used (GPU busy)" not in inline_svg(DAILY)


def test_an_empty_window_still_draws_axes():
    assert png_size(render(Daily([date(2025, 1, 6)], {}), "png"))[0] > 0


def test_the_plot_path_is_checked_before_asking_the_service(tmp_path):
    check_plot_path(tmp_path / "usage.png")
    for path, words in [
        (tmp_path / "missing" / "usage.png", "does not exist"),
        (tmp_path / "usage.svg", r"name the file \*\.png"),
    ]:
        with pytest.raises(CLIError, match=words):
            check_plot_path(path)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(CLIError, match="that is a folder"):
        check_plot_path(tmp_path / "dir.png")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(CLIError, match="permission denied"):
            check_plot_path(locked / "usage.png")


def test_errors_become_one_line():
    refused = ServiceError(403, "alice is not staff of ai-101: ...")
    assert one_line(refused, None) == "alice is not staff of ai-101: ... (HTTP 403)"
    down = ServiceError(
        0,
        "cannot reach the assignment exchange at http://h/x: HTTPConnectionPool(host='h', "
        'port=1): Max retries exceeded (Caused by NewConnectionError("...: '
        '[Errno 111] Connection refused"))',
    )
    assert one_line(down, "http://h") == (
        "cannot reach the coursehub service through http://h (Connection refused); is the "
        "hub running and --hub-url its address?"
    )
    page = ServiceError(404, "<!DOCTYPE html>\n<html>\n<body>404 Not Found</body></html>")
    line = one_line(page, "http://h")
    assert "\n" not in line and line.startswith("http://h answered HTTP 404 instead of")
