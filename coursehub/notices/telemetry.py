"""GPU telemetry from inside a GPU server: what its GPUs and kernels do, sent to the
coursehub service (``POST api/gpu/telemetry``) with the server's own hub token.

Why in the server, through NVML, and not from a node exporter (dcgm-exporter): the
service must know *which server* used a GPU, and the server's own token says that
(the service checks ``access:servers!server=<user>/<name>``). dcgm-exporter reports per
physical GPU and needs the kubelet's pod-resources API to name pods; with time-sliced
shares several pods sit on one GPU and it cannot tell them apart. The server also knows
what no exporter sees: whether a kernel is executing. The price: a student controls their
server and could report busy while idle; budgets and session limits still bound such a
server, and an admin who runs dcgm-exporter can cross-check (docs/gpu.md).

Readings (``read_gpus``):

- ``COURSEHUB_GPU_TELEMETRY_FILE`` set: the JSON file it names,
  ``{"gpus": [{"utilization": 37, "memory_used_bytes": N, "memory_total_bytes": N}]}``. The
  dev cluster's kubelet gives each GPU pod one and tests write "busy" or "idle" into it
  (``coursehub.devcluster.gpu_load``); everything after the reading is the same code path.
- else NVML through ``nvidia-ml-py`` (an optional dependency of the GPU image, not of the
  tests), for the devices in ``NVIDIA_VISIBLE_DEVICES`` (UUIDs or indices, or ``all``).
- neither (a CPU server): nothing is sampled or sent.

The reporter samples every few seconds and reports every ``COURSEHUB_GPU_TELEMETRY_SECONDS``
(30): the mean GPU utilisation over its samples, the newest memory reading, and whether a
kernel was seen executing. The status bar reads ``GET <server>/coursehub/gpu-status``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.ioloop import PeriodicCallback

log = logging.getLogger("coursehub.notices.telemetry")

FILE_VARIABLE = "COURSEHUB_GPU_TELEMETRY_FILE"
INTERVAL_VARIABLE = "COURSEHUB_GPU_TELEMETRY_SECONDS"
DEFAULT_INTERVAL = 30.0
SAMPLE_SECONDS = 5.0


class TelemetryError(ValueError):
    """A telemetry source that cannot be read (names the file and what is wrong)."""


@dataclass(frozen=True)
class GPUReading:
    utilization: float  # percent, 0..100
    memory_used_bytes: int
    memory_total_bytes: int


def parse_file(text: str, path: str) -> list[GPUReading]:
    """The readings of a telemetry file (see the module doc); ``TelemetryError`` names the
    file and the field at fault."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise TelemetryError(f"{path}: not JSON: {error}") from None
    gpus = data.get("gpus") if isinstance(data, dict) else None
    if not isinstance(gpus, list):
        raise TelemetryError(f"{path}: 'gpus' must be a list of readings")
    readings = []
    for index, gpu in enumerate(gpus):
        where = f"{path}: gpus[{index}]"
        if not isinstance(gpu, dict):
            raise TelemetryError(f"{where} must be an object")
        utilization = gpu.get("utilization")
        if (
            not isinstance(utilization, int | float)
            or isinstance(utilization, bool)
            or not 0 <= utilization <= 100
        ):
            raise TelemetryError(f"{where}.utilization must be a percentage, not {utilization!r}")
        memory = []
        for key in ("memory_used_bytes", "memory_total_bytes"):
            value = gpu.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TelemetryError(f"{where}.{key} must be a whole number of bytes")
            memory.append(value)
        readings.append(GPUReading(float(utilization), *memory))
    return readings


def visible_devices(value: str | None) -> list[str]:
    """``NVIDIA_VISIBLE_DEVICES`` as device ids; ``none``/``void``/empty: none. Replicas of
    a shared GPU name the same physical device, so duplicates are dropped."""
    if not value or value.strip() in ("none", "void"):
        return []
    seen: list[str] = []
    for device in value.split(","):
        device = device.strip()
        if device and device not in seen:
            seen.append(device)
    return seen


def read_nvml(devices: list[str]) -> list[GPUReading] | None:
    """NVML readings of ``devices`` (None: NVML is not installed or finds no driver)."""
    try:
        import pynvml  # nvidia-ml-py, in the GPU image only
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        if devices == ["all"]:
            handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
        else:
            handles = [
                pynvml.nvmlDeviceGetHandleByIndex(int(device))
                if device.isdigit()
                else pynvml.nvmlDeviceGetHandleByUUID(device)
                for device in devices
            ]
        readings = []
        for handle in handles:
            rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            readings.append(GPUReading(float(rates.gpu), int(memory.used), int(memory.total)))
        return readings
    finally:
        pynvml.nvmlShutdown()


def gpu_source(environ: Mapping[str, str]) -> Callable[[], list[GPUReading] | None] | None:
    """How this server reads its GPUs, or None for a server without GPUs."""
    path = environ.get(FILE_VARIABLE)
    if path:
        return lambda: parse_file(Path(path).read_text(), path)
    devices = visible_devices(environ.get("NVIDIA_VISIBLE_DEVICES"))
    if not devices:
        return None
    return lambda: read_nvml(devices)


@dataclass
class Window:
    """Samples since the last report."""

    utilizations: list[float] = field(default_factory=list)
    latest: list[GPUReading] = field(default_factory=list)
    kernel_busy: bool = False

    def add(self, readings: list[GPUReading] | None, kernel_busy: bool) -> None:
        if readings:
            # Several GPUs: the mean of them, as one GPU-equivalent's worth of use.
            self.utilizations.append(sum(r.utilization for r in readings) / len(readings))
            self.latest = readings
        self.kernel_busy = self.kernel_busy or kernel_busy

    def report(self, server_name: str) -> dict:
        """The body of ``POST api/gpu/telemetry``."""
        memory_used = sum(r.memory_used_bytes for r in self.latest) if self.latest else None
        memory_total = sum(r.memory_total_bytes for r in self.latest) if self.latest else None
        utilization = (
            round(sum(self.utilizations) / len(self.utilizations), 2) if self.utilizations else None
        )
        return {
            "server_name": server_name,
            "gpu_utilization": utilization,
            "gpu_memory_used_bytes": memory_used,
            "gpu_memory_total_bytes": memory_total,
            "kernel_busy": self.kernel_busy,
        }


def any_kernel_busy(states: Iterable[str | None]) -> bool:
    """Whether a kernel is executing code (``execution_state`` ``busy``)."""
    return any(state == "busy" for state in states)


class Reporter:
    """Samples every ``SAMPLE_SECONDS`` (at most the interval) and reports every
    ``interval`` seconds; ``status`` is what the status bar shows."""

    def __init__(
        self,
        read: Callable[[], list[GPUReading] | None],
        kernel_states: Callable[[], Iterable[str | None]],
        service_url: str,
        token: str,
        server_name: str,
        interval: float,
    ):
        self.read = read
        self.kernel_states = kernel_states
        self.url = f"{service_url.rstrip('/')}/api/gpu/telemetry"
        self.token = token
        self.server_name = server_name
        self.interval = interval
        self.window = Window()
        self.status: dict = {"enabled": True}
        self._sampler = PeriodicCallback(self.sample, min(SAMPLE_SECONDS, interval) * 1000)
        self._poster = PeriodicCallback(self.send, interval * 1000)

    def start(self) -> None:
        self.sample()
        self._sampler.start()
        self._poster.start()

    def stop(self) -> None:
        self._sampler.stop()
        self._poster.stop()

    def sample(self) -> None:
        try:
            readings = self.read()
        except (OSError, TelemetryError) as error:
            log.warning("coursehub GPU telemetry: cannot read the GPUs: %s", error)
            readings = None
        self.window.add(readings, any_kernel_busy(self.kernel_states()))
        if readings:
            latest = self.window.report(self.server_name)
            self.status.update(
                gpu_utilization=sum(r.utilization for r in readings) / len(readings),
                gpu_memory_used_bytes=latest["gpu_memory_used_bytes"],
                gpu_memory_total_bytes=latest["gpu_memory_total_bytes"],
            )

    async def send(self) -> None:
        window, self.window = self.window, Window()
        request = HTTPRequest(
            self.url,
            method="POST",
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            body=json.dumps(window.report(self.server_name)),
            request_timeout=10,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except (HTTPClientError, OSError) as error:
            log.warning("coursehub GPU telemetry: the service did not take a report: %s", error)
            return
        answer = json.loads(response.body)
        self.status.update(
            hours_left=answer.get("hours_left"),
            course=answer.get("course"),
            used_gpu_hours=answer.get("used_gpu_hours"),
            held_gpu_hours=answer.get("held_gpu_hours"),
        )


def interval_from(environ: Mapping[str, str]) -> float:
    value = environ.get(INTERVAL_VARIABLE) or ""
    try:
        seconds = float(value) if value else DEFAULT_INTERVAL
    except ValueError:
        raise TelemetryError(
            f"{INTERVAL_VARIABLE}={value!r}: must be a number of seconds"
        ) from None
    if not 0.5 <= seconds <= 3600:
        raise TelemetryError(f"{INTERVAL_VARIABLE}={value!r}: must be from 0.5 to 3600 seconds")
    return seconds
