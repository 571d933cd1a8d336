"""The GPU server's telemetry before it is sent: the dev cluster's stand-in file (written by
``coursehub.devcluster.gpu_load``, read by the extension), ``NVIDIA_VISIBLE_DEVICES``, and
the report a window of samples makes."""

from __future__ import annotations

import json

import pytest

from coursehub.devcluster import gpu_load
from coursehub.notices import telemetry


def test_the_kubelets_file_is_what_the_extension_reads(tmp_path):
    path = gpu_load.telemetry_path(tmp_path, "default", "jupyter-ada")
    path.parent.mkdir(parents=True)
    gpu_load.write_load(path, 0, devices=2)
    read = telemetry.gpu_source({telemetry.FILE_VARIABLE: str(path)})
    assert [r.utilization for r in read()] == [0.0, 0.0]
    gpu_load.write_load(path, 85, memory_used_bytes=5 << 30)  # keeps its two GPUs
    readings = read()
    assert [r.utilization for r in readings] == [85.0, 85.0]
    assert readings[0].memory_used_bytes == 5 << 30
    assert readings[0].memory_total_bytes == gpu_load.DEVICE_MEMORY_BYTES
    with pytest.raises(ValueError, match="percentage"):
        gpu_load.write_load(path, 120)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("not json", "not JSON"),
        ("[]", "'gpus' must be a list"),
        ('{"gpus": [{"utilization": 101}]}', r"gpus\[0\]\.utilization must be a percentage"),
        ('{"gpus": [{"utilization": true}]}', r"gpus\[0\]\.utilization"),
        (
            '{"gpus": [{"utilization": 5, "memory_used_bytes": -1}]}',
            r"gpus\[0\]\.memory_used_bytes must be a whole number",
        ),
    ],
)
def test_a_bad_file_is_named_with_the_field_at_fault(text, fault):
    with pytest.raises(telemetry.TelemetryError, match=fault) as error:
        telemetry.parse_file(text, "/pods/x/gpu-telemetry.json")
    assert str(error.value).startswith("/pods/x/gpu-telemetry.json: ")


def test_a_server_without_gpus_has_no_source():
    assert telemetry.gpu_source({}) is None
    assert telemetry.gpu_source({"NVIDIA_VISIBLE_DEVICES": "void"}) is None
    assert telemetry.gpu_source({"NVIDIA_VISIBLE_DEVICES": "GPU-a"}) is not None


def test_replicas_of_one_gpu_are_one_device():
    assert telemetry.visible_devices("GPU-a,GPU-a, GPU-b") == ["GPU-a", "GPU-b"]
    assert telemetry.visible_devices("none") == []
    assert telemetry.visible_devices("all") == ["all"]


def test_a_report_is_the_mean_utilisation_and_the_newest_memory():
    window = telemetry.Window()
    first = [telemetry.GPUReading(0, 1 << 30, 16 << 30)]
    second = [telemetry.GPUReading(90, 6 << 30, 16 << 30)]
    window.add(first, kernel_busy=False)
    window.add(second, kernel_busy=False)
    window.add(None, kernel_busy=True)  # an unreadable sample: only the kernel counts
    assert window.report("gpu") == {
        "server_name": "gpu",
        "gpu_utilization": 45.0,
        "gpu_memory_used_bytes": 6 << 30,
        "gpu_memory_total_bytes": 16 << 30,
        "kernel_busy": True,
    }
    empty = telemetry.Window().report("")
    assert empty["gpu_utilization"] is None and empty["kernel_busy"] is False
    json.dumps(empty)


def test_only_an_executing_kernel_is_busy():
    assert telemetry.any_kernel_busy(["idle", "busy"])
    assert not telemetry.any_kernel_busy(["idle", "starting", None])


def test_the_interval_is_checked():
    assert telemetry.interval_from({}) == telemetry.DEFAULT_INTERVAL
    assert telemetry.interval_from({telemetry.INTERVAL_VARIABLE: "2"}) == 2.0
    with pytest.raises(telemetry.TelemetryError, match="COURSEHUB_GPU_TELEMETRY_SECONDS='x'"):
        telemetry.interval_from({telemetry.INTERVAL_VARIABLE: "x"})
