"""H.264 in fragmented MP4, one complete playable file per segment, built in memory.

Each segment is its own MP4 (``movflags=frag_keyframe+empty_moov+default_base_moof``) written into an
``io.BytesIO``: nothing touches the file system, and a fragmented file that is cut short still
plays up to the last complete fragment. A segment starts with a keyframe (a fresh encoder per
segment) and holds one fragment per GOP. Frames are converted BGR → I420 with OpenCV (much faster
than PyAV's own conversion) and stamped with their capture time in milliseconds, so the file's
timing is the camera's, not an assumed frame rate. Note: the PyAV wheel bundles libx264 (GPL).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import av
import cv2
import numpy as np

MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """libx264 settings; ``preset`` trades CPU for size, ``crf`` quality (lower = better)."""

    fps: float = 30.0
    preset: str = "ultrafast"
    crf: int = 23
    gop_s: float = 1.0
    threads: int = 0  # 0 = libx264 decides


class SegmentEncoder:
    """Encodes BGR frames of one segment into MP4 bytes; ``close()`` returns the file.

    With ``output`` (an open binary file, used by ``redact`` for already-masked footage) the MP4
    goes there instead and ``close()`` returns ``b""``.
    """

    def __init__(
        self, width_px: int, height_px: int, settings: EncoderSettings, output: BinaryIO | None = None
    ) -> None:
        if width_px % 2 or height_px % 2:
            raise ValueError(f"H.264 4:2:0 needs even dimensions, got {width_px}x{height_px}")
        self.width_px = width_px
        self.height_px = height_px
        self._buffer: BinaryIO = io.BytesIO() if output is None else output
        self._in_memory = output is None
        self._container = av.open(self._buffer, mode="w", format="mp4", options=MP4_OPTIONS)
        stream = self._container.add_stream("libx264", rate=Fraction(settings.fps).limit_denominator(1001))
        stream.width = width_px
        stream.height = height_px
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.codec_context.gop_size = max(1, round(settings.gop_s * settings.fps))
        stream.codec_context.thread_count = settings.threads
        stream.options = {"preset": settings.preset, "crf": str(settings.crf)}
        self._stream = stream
        self._first_ms: int | None = None
        self._last_pts = -1
        self.frame_count = 0

    def add(self, frame_bgr: np.ndarray, time_ms: int) -> None:
        """Encode one frame captured at ``time_ms`` (any millisecond clock, increasing)."""
        if self._first_ms is None:
            self._first_ms = time_ms
        pts = max(time_ms - self._first_ms, self._last_pts + 1)
        self._last_pts = pts
        i420 = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        frame.pts = pts
        frame.time_base = Fraction(1, 1000)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frame_count += 1

    def close(self) -> bytes:
        """Flush the encoder, finish the MP4 and return its bytes."""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        if not self._in_memory:
            return b""
        assert isinstance(self._buffer, io.BytesIO)
        data = self._buffer.getvalue()
        self._buffer = io.BytesIO()
        return data
