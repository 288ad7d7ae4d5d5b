"""Serve the synthetic camera as an HTTP MJPEG stream from ``drone-agent sim --camera``.

Theory of operation
-------------------
A producer thread renders a frame every ``1/fps`` s of wall time while at least one client is
connected, from a pose snapshot of the running vehicle (``pose_fn``), JPEG-encodes it and publishes
it under a condition variable. Each HTTP client (``GET /``) gets ``multipart/x-mixed-replace``
parts, one per new frame, each with an ``X-Time-Boot-Ms`` header carrying the vehicle clock, so
OpenCV (``cv2.VideoCapture("http://127.0.0.1:PORT/")``), ffplay or a browser can watch the camera
like a real IP camera. The HTTP server is the standard library's threading server; rendering stops
when the last client leaves, so an unwatched camera costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from drone_agent.sim.camera import CameraPose, SyntheticCamera

BOUNDARY = "droneagentframe"
JPEG_QUALITY = 85


class MjpegCameraServer:
    """An MJPEG HTTP server for one :class:`SyntheticCamera` (see the module docstring)."""

    def __init__(self, camera: SyntheticCamera, pose_fn: Callable[[], tuple[int, CameraPose]],
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.camera = camera
        self.pose_fn = pose_fn
        self._cond = threading.Condition()
        self._frame: tuple[int, int, bytes] | None = None  # (sequence, time_boot_ms, jpeg)
        self._clients = 0
        self._stop = threading.Event()
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the console quiet
                return

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                server_self._stream(self)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._threads = [threading.Thread(target=self.httpd.serve_forever, daemon=True),
                         threading.Thread(target=self._produce, daemon=True)]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> MjpegCameraServer:
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _produce(self) -> None:
        period = 1.0 / self.camera.spec.fps
        seq = 0
        next_t = time.monotonic()
        while not self._stop.is_set():
            with self._cond:
                while self._clients == 0 and not self._stop.is_set():
                    self._cond.wait(0.5)
                    next_t = time.monotonic()
            if self._stop.is_set():
                return
            time_ms, pose = self.pose_fn()
            ok, jpeg = cv2.imencode(".jpg", self.camera.render(pose),
                                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                seq += 1
                with self._cond:
                    self._frame = (seq, time_ms, jpeg.tobytes())
                    self._cond.notify_all()
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        with self._cond:
            self._clients += 1
            self._cond.notify_all()
        last = 0
        try:
            while not self._stop.is_set():
                with self._cond:
                    self._cond.wait_for(lambda: self._stop.is_set() or (
                        self._frame is not None and self._frame[0] != last), timeout=1.0)
                    frame = self._frame
                if frame is None or frame[0] == last:
                    continue
                last, time_ms, jpeg = frame
                handler.wfile.write(
                    (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                     f"X-Time-Boot-Ms: {time_ms}\r\n\r\n").encode() + jpeg + b"\r\n")
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._cond:
                self._clients -= 1


def vehicle_pose(vehicle) -> tuple[int, CameraPose]:
    """(time_boot_ms, camera pose) of a running :class:`~.vehicle.Vehicle` (truth, gimbal)."""
    b = vehicle.body
    return vehicle.time_boot_ms, CameraPose(
        b.north_m, b.east_m, vehicle.origin.alt_amsl_m + b.up_m,
        b.yaw_deg + vehicle.gimbal.yaw_rel_deg, vehicle.gimbal.pitch_deg)
