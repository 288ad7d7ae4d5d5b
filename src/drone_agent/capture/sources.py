"""Frame sources: every frame carries a capture time on the vehicle clock (time_boot_ms).

* ``OpenCvSource`` reads a device index ("0"), a video file, or a stream URL (rtsp://, udp://,
  http://) with ``cv2.VideoCapture``. A live frame is stamped with the host's monotonic time at
  ``read()`` minus the configured capture latency, converted to time_boot_ms by a
  ``BootTimeEstimator``; a file's frames use the file's own timestamps plus an offset.
* ``SimCameraSource`` adapts the simulator camera, which already yields
  ``(time_boot_ms, BGR ndarray)`` tuples, checking each frame's shape and type.

``BootTimeEstimator`` learns ``time_boot_ms − host_ms`` from telemetry: each message's
``time_boot_ms`` against its arrival time. Link delay only ever makes a message look *older*, so
the largest offset seen in a sliding window is the best estimate (the least-delayed message);
a vehicle reboot (time_boot_ms going back) restarts it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from drone_agent.errors import EnvironmentFault, InputError


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    time_boot_ms: int
    image: np.ndarray


class BootTimeEstimator:
    """Maps host monotonic seconds to the vehicle's time_boot_ms (see module docstring)."""

    def __init__(self, window: int | None = 200) -> None:
        self._offsets: deque[float] = deque(maxlen=window)
        self._last_boot_ms = -1

    def observe(self, time_boot_ms: int, received_s: float) -> None:
        if time_boot_ms + 2000 < self._last_boot_ms:
            self._offsets.clear()
        self._last_boot_ms = time_boot_ms
        self._offsets.append(time_boot_ms - received_s * 1000.0)

    @property
    def ready(self) -> bool:
        return bool(self._offsets)

    def to_boot_ms(self, host_s: float) -> int:
        if not self._offsets:
            raise ValueError("no telemetry with time_boot_ms received yet")
        return round(host_s * 1000.0 + max(self._offsets))


def _is_image(image: object) -> bool:
    return (
        isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    )


class OpenCvSource:
    """Frames from cv2.VideoCapture: device index, file or stream URL."""

    def __init__(
        self,
        spec: str,
        *,
        boot_time: BootTimeEstimator | None = None,
        capture_latency_s: float = 0.0,
        file_offset_ms: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.is_device = spec.isdigit()
        self.is_file = not self.is_device and "://" not in spec
        if not self.is_file and boot_time is None:
            raise ValueError("a live source needs a BootTimeEstimator fed with telemetry")
        self.boot_time = boot_time
        self.capture_latency_s = capture_latency_s
        self.file_offset_ms = file_offset_ms
        self.clock = clock
        self.capture = cv2.VideoCapture(int(spec) if self.is_device else spec)
        if not self.capture.isOpened():
            if self.is_file:
                raise InputError(f"{spec}: cannot open as video", "check the path and the file format")
            raise EnvironmentFault(f"camera {spec!r} cannot be opened", "check the device or stream URL")

    def __iter__(self) -> Iterator[Frame]:
        try:
            while True:
                ok, image = self.capture.read()
                if not ok:
                    return
                if self.is_file:
                    t_ms = round(self.capture.get(cv2.CAP_PROP_POS_MSEC)) + self.file_offset_ms
                else:
                    assert self.boot_time is not None
                    if not self.boot_time.ready:
                        continue  # no telemetry yet: the frame cannot be placed in time
                    t_ms = self.boot_time.to_boot_ms(self.clock() - self.capture_latency_s)
                yield Frame(t_ms, image)
        finally:
            self.capture.release()


class SimCameraSource:
    """Adapter for ``drone_agent.sim.camera``: an iterable of (time_boot_ms, BGR image)."""

    def __init__(self, frames: Iterable[tuple[int, np.ndarray]]) -> None:
        self._frames = frames

    def __iter__(self) -> Iterator[Frame]:
        for time_boot_ms, image in self._frames:
            if not _is_image(image):
                raise ValueError("simulator frame is not an H×W×3 uint8 BGR image")
            yield Frame(int(time_boot_ms), image)
