"""The recorder: mask every frame, encode only while the evidence trigger is set, hand segments on.

Theory of operation
-------------------
``Recorder.on_frame(time_boot_ms, frame)`` is called for every camera frame:

1. With the trigger idle and no pre-event buffer, the frame is dropped untouched: no encoder
   exists, no byte is produced, nothing is written anywhere.
2. Otherwise the frame is masked **in place** by the PrivacyMasker first (pose from the PoseTrack),
   so nothing downstream ever sees an unmasked pixel.
3. While the trigger is set, masked frames go to the open ``SegmentEncoder``; a segment closes when
   it reaches ``segment_s``, when the trigger stops or changes id, or on ``close()``; its MP4 bytes
   and ``SegmentMeta`` go straight to the ``sink`` (the evidence vault seals them). No plaintext
   file is ever created: segments live in memory until the sink takes them.
4. With ``pre_event_s > 0`` (default 0 = off) and the trigger idle, masked frames are encoded into
   short in-memory chunks (a quarter of ``pre_event_s``, at most 1 s, each a playable MP4) kept in
   a RAM ring holding at most ``pre_event_s`` of video (at least three quarters of it once
   filled); older chunks are dropped. When a trigger starts, the ring is handed to the sink first (marked
   ``pre_event``, carrying the new trigger id); if no trigger starts it is simply discarded.
5. ``request_still(event)`` makes the next masked frame a JPEG for the ``still_sink``.
6. ``sync()`` after a trigger stop hands the open segment on at once (the integrator calls it from
   the trigger's ``on_event``); otherwise the next frame or ``close()`` does.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import cv2
import numpy as np

from drone_agent.capture.encoder import EncoderSettings, SegmentEncoder
from drone_agent.capture.pose import CameraPose, PoseTrack
from drone_agent.capture.privacy import MaskResult, PrivacyMasker
from drone_agent.capture.rotation import matrix_from_quat
from drone_agent.capture.trigger import EvidenceTrigger, TriggerEvent

PRE_EVENT_CHUNK_MAX_S = 1.0
MAX_REASONS = 8


def utc_text(utc: datetime) -> str:
    return utc.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class BootClock:
    """Maps the vehicle's time_boot_ms to UTC: ``utc = unix_epoch + offset + boot``."""

    offset_ms: int

    @classmethod
    def from_pair(cls, time_boot_ms: int, utc: datetime) -> BootClock:
        return cls(round(utc.timestamp() * 1000) - time_boot_ms)

    @classmethod
    def from_system_time(cls, msg: Any) -> BootClock:
        """From a SYSTEM_TIME message (time_unix_usec, time_boot_ms)."""
        return cls(int(msg.time_unix_usec // 1000) - int(msg.time_boot_ms))

    def utc(self, time_boot_ms: int) -> datetime:
        return datetime.fromtimestamp((self.offset_ms + time_boot_ms) / 1000.0, timezone.utc)


@dataclass(slots=True)
class _PoseSummary:
    known: int = 0
    unknown: int = 0
    first: list[float] | None = None
    last: list[float] | None = None
    alt_min_m: float = math.inf
    alt_max_m: float = -math.inf
    pitch_min_deg: float = math.inf
    pitch_max_deg: float = -math.inf

    def add(self, pose: CameraPose | None) -> None:
        if pose is None:
            self.unknown += 1
            return
        self.known += 1
        east, north, up = (float(v) for v in pose.position_enu_m)
        forward = matrix_from_quat(pose.q_ned_cam)[:, 0]  # optical axis in NED
        heading = math.degrees(math.atan2(forward[1], forward[0])) % 360.0
        pitch = math.degrees(math.asin(max(-1.0, min(1.0, -forward[2]))))
        point = [round(east, 2), round(north, 2), round(up, 2), round(heading, 1), round(pitch, 1)]
        self.first = self.first or point
        self.last = point
        self.alt_min_m = min(self.alt_min_m, up)
        self.alt_max_m = max(self.alt_max_m, up)
        self.pitch_min_deg = min(self.pitch_min_deg, pitch)
        self.pitch_max_deg = max(self.pitch_max_deg, pitch)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frames_pose_known": self.known, "frames_pose_unknown": self.unknown}
        if self.known:
            keys = ("east_m", "north_m", "alt_rel_home_m", "heading_deg", "pitch_deg")
            out["start"] = dict(zip(keys, self.first or []))
            out["end"] = dict(zip(keys, self.last or []))
            out["alt_rel_home_m"] = [round(self.alt_min_m, 2), round(self.alt_max_m, 2)]
            out["camera_pitch_deg"] = [round(self.pitch_min_deg, 1), round(self.pitch_max_deg, 1)]
        return out


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """What the evidence vault records about one segment (``as_dict()`` → ``seal_segment``)."""

    trigger_id: str
    start_utc: str
    end_utc: str
    start_time_boot_ms: int
    end_time_boot_ms: int
    frame_count: int
    width_px: int
    height_px: int
    pre_event: bool
    masked_zones: tuple[str, ...]
    masked_fraction_mean: float
    masked_fraction_max: float
    full_frame_masked: int
    full_frame_reasons: tuple[str, ...]
    pose: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trigger_id": self.trigger_id,
            "start_utc": self.start_utc,
            "end_utc": self.end_utc,
            "start_time_boot_ms": self.start_time_boot_ms,
            "end_time_boot_ms": self.end_time_boot_ms,
            "frame_count": self.frame_count,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "codec": "h264",
            "container": "mp4-fragmented",
            "pre_event": self.pre_event,
            "masked_zones": list(self.masked_zones),
            "masked_fraction_mean": self.masked_fraction_mean,
            "masked_fraction_max": self.masked_fraction_max,
            "full_frame_masked": self.full_frame_masked,
            "full_frame_reasons": list(self.full_frame_reasons),
            "pose": self.pose,
        }


Sink = Callable[[bytes, SegmentMeta], None]
StillSink = Callable[[bytes, dict[str, Any]], None]


class _OpenSegment:
    """An encoder plus the metadata gathered while it is open."""

    def __init__(self, width_px: int, height_px: int, settings: EncoderSettings, pre_event: bool):
        self.encoder = SegmentEncoder(width_px, height_px, settings)
        self.pre_event = pre_event
        self.first_ms: int | None = None
        self.last_ms = 0
        self.zones: list[str] = []
        self.fraction_sum = 0.0
        self.fraction_max = 0.0
        self.full_frames = 0
        self.reasons: list[str] = []
        self.pose = _PoseSummary()

    def add(self, time_ms: int, frame: np.ndarray, mask: MaskResult, pose: CameraPose | None) -> None:
        self.encoder.add(frame, time_ms)
        self.first_ms = time_ms if self.first_ms is None else self.first_ms
        self.last_ms = time_ms
        for name in mask.zones:
            if name not in self.zones:
                self.zones.append(name)
        self.fraction_sum += mask.fraction
        self.fraction_max = max(self.fraction_max, mask.fraction)
        if mask.full_frame:
            self.full_frames += 1
            if mask.reason not in self.reasons and len(self.reasons) < MAX_REASONS:
                self.reasons.append(mask.reason)
        self.pose.add(pose)

    def duration_s(self) -> float:
        return 0.0 if self.first_ms is None else (self.last_ms - self.first_ms) / 1000.0

    def meta(self, trigger_id: str, clock: BootClock) -> SegmentMeta:
        count = self.encoder.frame_count
        first = self.first_ms or 0
        return SegmentMeta(
            trigger_id=trigger_id,
            start_utc=utc_text(clock.utc(first)),
            end_utc=utc_text(clock.utc(self.last_ms)),
            start_time_boot_ms=first,
            end_time_boot_ms=self.last_ms,
            frame_count=count,
            width_px=self.encoder.width_px,
            height_px=self.encoder.height_px,
            pre_event=self.pre_event,
            masked_zones=tuple(self.zones),
            masked_fraction_mean=round(self.fraction_sum / count, 4) if count else 0.0,
            masked_fraction_max=round(self.fraction_max, 4),
            full_frame_masked=self.full_frames,
            full_frame_reasons=tuple(self.reasons),
            pose=self.pose.as_dict(),
        )


class Recorder:
    """Masks, encodes and segments frames while the trigger is set (see module docstring)."""

    def __init__(
        self,
        masker: PrivacyMasker,
        track: PoseTrack,
        trigger: EvidenceTrigger,
        sink: Sink,
        clock: BootClock,
        *,
        segment_s: float = 4.0,
        encoder: EncoderSettings = EncoderSettings(),
        pre_event_s: float = 0.0,
        still_sink: StillSink | None = None,
    ) -> None:
        if segment_s <= 0:
            raise ValueError("segment_s must be positive")
        if not 0.0 <= pre_event_s <= 120.0:
            raise ValueError("pre_event_s must be within 0..120")
        self.masker = masker
        self.track = track
        self.trigger = trigger
        self.sink = sink
        self.clock = clock
        self.segment_s = segment_s
        self.encoder_settings = encoder
        self.pre_event_s = pre_event_s
        self.still_sink = still_sink
        self._segment: _OpenSegment | None = None
        self._segment_trigger: str | None = None
        self._ring: deque[tuple[bytes, _OpenSegment]] = deque()
        self._pending_stills: list[TriggerEvent] = []
        self.segments_sent = 0

    def request_still(self, event: TriggerEvent) -> None:
        """Capture the next masked frame as a JPEG for ``still_sink`` (event from trigger.still)."""
        self._pending_stills.append(event)

    def on_frame(self, time_boot_ms: int, frame: np.ndarray) -> MaskResult | None:
        """Process one frame; returns the mask result, or None if the frame was not used."""
        recording = self.trigger.active
        if not recording and self._segment is not None and not self._segment.pre_event:
            self._close_segment()
        if not recording and self.pre_event_s <= 0.0 and not self._pending_stills:
            return None
        estimate = self.track.at(time_boot_ms)
        mask = self.masker.apply(frame, estimate)
        if self._pending_stills:
            self._emit_stills(time_boot_ms, frame, mask)
        if recording:
            self._record(time_boot_ms, frame, mask, estimate.pose)
        elif self.pre_event_s > 0.0:
            self._buffer(time_boot_ms, frame, mask, estimate.pose)
        return mask

    def sync(self) -> None:
        """Call after the trigger changed: a stopped recording's open segment is handed on now,
        not only at the next frame (which would do the same)."""
        if not self.trigger.active and self._segment is not None and not self._segment.pre_event:
            self._close_segment()

    def close(self) -> None:
        """Finish and hand on an open segment; discard the pre-event ring."""
        if self._segment is not None and not self._segment.pre_event:
            self._close_segment()
        self._segment = None
        self._ring.clear()

    def _new_segment(self, frame: np.ndarray, pre_event: bool) -> _OpenSegment:
        height, width = frame.shape[:2]
        return _OpenSegment(width, height, self.encoder_settings, pre_event)

    def _record(self, t_ms: int, frame: np.ndarray, mask: MaskResult, pose: CameraPose | None) -> None:
        trigger_id = self.trigger.trigger_id
        assert trigger_id is not None
        if self._segment is not None and (
            self._segment.pre_event or self._segment_trigger != trigger_id
        ):
            if self._segment.pre_event:
                self._finish_chunk()
            else:
                self._close_segment()
        if self._ring:
            self._flush_ring(trigger_id)
        if self._segment is None:
            self._segment = self._new_segment(frame, pre_event=False)
            self._segment_trigger = trigger_id
        self._segment.add(t_ms, frame, mask, pose)
        if self._segment.duration_s() >= self.segment_s:
            self._close_segment()

    def _close_segment(self) -> None:
        segment, trigger_id = self._segment, self._segment_trigger
        self._segment = None
        if segment is None or trigger_id is None or segment.first_ms is None:
            return
        data = segment.encoder.close()
        self.sink(data, segment.meta(trigger_id, self.clock))
        self.segments_sent += 1

    def _buffer(self, t_ms: int, frame: np.ndarray, mask: MaskResult, pose: CameraPose | None) -> None:
        if self._segment is None:
            self._segment = self._new_segment(frame, pre_event=True)
        self._segment.add(t_ms, frame, mask, pose)
        if self._segment.duration_s() >= min(PRE_EVENT_CHUNK_MAX_S, self.pre_event_s / 4.0):
            self._finish_chunk()
        while self._ring and t_ms - (self._ring[0][1].first_ms or 0) > self.pre_event_s * 1000:
            self._ring.popleft()

    def _finish_chunk(self) -> None:
        chunk, self._segment = self._segment, None
        if chunk is not None and chunk.first_ms is not None:
            self._ring.append((chunk.encoder.close(), chunk))

    def _flush_ring(self, trigger_id: str) -> None:
        while self._ring:
            data, chunk = self._ring.popleft()
            self.sink(data, chunk.meta(trigger_id, self.clock))
            self.segments_sent += 1

    def _emit_stills(self, t_ms: int, frame: np.ndarray, mask: MaskResult) -> None:
        events, self._pending_stills = self._pending_stills, []
        if self.still_sink is None:
            return
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        for event in events:
            self.still_sink(
                jpeg.tobytes(),
                {
                    "trigger_id": event.trigger_id,
                    "utc": utc_text(self.clock.utc(t_ms)),
                    "time_boot_ms": t_ms,
                    "source": event.source,
                    "masked_zones": list(mask.zones),
                    "masked_fraction": round(mask.fraction, 4),
                    "full_frame_masked": mask.full_frame,
                    "full_frame_reason": mask.reason,
                },
            )

