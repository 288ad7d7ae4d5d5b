"""Capture attached to ``fly``: camera component, trigger, pose, masking and recording.

Theory of operation
-------------------
The guard reacts within the link loop turn that delivered the telemetry, so the link thread must
never wait for video work (masking and encoding cost milliseconds per frame). The work is split:

* **link thread** (``on_message`` / ``tick``, hosted on the agent's :class:`~.link.Link` with
  :class:`~.link.HostedComponent` as component 100 *of the vehicle's system*, as companion
  cameras speak): every received message goes into an inbox (a ``deque``, safe between one
  producer and one consumer); whatever the camera component produced is taken from an outbox
  and sent. Nothing else.
* **capture thread** (:meth:`_run`): owns the pose track, the evidence trigger, the RC switch,
  the MAVLink camera component and the recorder. Before each frame it drains the inbox (pose
  samples, camera commands, RC channels, pilot commands), then masks and -- only while the
  trigger is set -- encodes the frame. A camera command is answered within one frame period.

Pilot commands (:meth:`pilot`) travel through the same inbox, so one thread changes the
trigger. Trigger starts/stops go to the flight's audit log with who and why; a recording still
running when the flight ends is stopped (``reason="flight ended"``) and its open segment sealed
before the folder closes. If the frame source fails, recording stops, the failure is audited,
and the flight itself carries on guarded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drone_agent.capture.config import CameraConfig, TriggerConfig, parse_camera_section, parse_trigger_section
from drone_agent.capture.mavcamera import CameraComponent
from drone_agent.capture.pose import PoseTrack
from drone_agent.capture.privacy import PrivacyMasker, zones_from_local
from drone_agent.capture.recorder import BootClock, Recorder
from drone_agent.capture.sources import BootTimeEstimator, Frame
from drone_agent.capture.trigger import EvidenceTrigger, RcSwitch, TriggerEvent

FrameSourceFactory = Callable[[CameraConfig, BootTimeEstimator], Iterable[Frame]]
"""Opens the camera named by ``[camera] source`` (called on the capture thread); a live source
stamps frames on the vehicle clock with the estimator, which the runtime feeds with telemetry."""


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """What the pilot's status shows about the camera."""

    recording: bool
    trigger_source: str | None
    recording_for_s: float | None
    segments_sealed: int
    frames_seen: int
    camera_error: str | None


def capture_streams_hz(camera: CameraConfig, trigger: TriggerConfig) -> dict[str, float]:
    """Telemetry capture needs on top of the guard's (pose at the frame rate, RC for the switch)."""
    rates = {"ATTITUDE": max(10.0, camera.fps), "GLOBAL_POSITION_INT": max(10.0, camera.fps)}
    if camera.mount == "gimbal":
        rates["GIMBAL_DEVICE_ATTITUDE_STATUS"] = max(10.0, camera.fps)
    if trigger.rc_switch() is not None:
        rates["RC_CHANNELS"] = 5.0
    return rates


class _SharedBootTime(BootTimeEstimator):
    """The estimator, fed by the link thread and read by the capture thread."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def observe(self, time_boot_ms: int, received_s: float) -> None:
        with self._lock:
            super().observe(time_boot_ms, received_s)

    def to_boot_ms(self, host_s: float) -> int:
        with self._lock:
            return super().to_boot_ms(host_s)


class CaptureRuntime:
    """See the module docstring. Build it, host it on the link, ``start()``, ``stop()``."""

    def __init__(self, sections: dict[str, Any], where: str, fence: Any, vault: Any,
                 open_frames: FrameSourceFactory, *, vehicle_system_id: int,
                 incident_ref: str | None, say: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.camera_config = parse_camera_section(sections.get("camera", {}), where)
        self.trigger_config = parse_trigger_section(sections.get("trigger", {}), where)
        self.component_id = self.camera_config.component_id
        self.vehicle_system_id = vehicle_system_id
        self._vault = vault
        self._open_frames = open_frames
        self._say = say
        self._clock = clock
        self._inbox: deque[Any] = deque()
        self._outbox: deque[Any] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._camera_error: str | None = None
        self._frames_seen = 0
        self._recording_since_s: float | None = None
        self.boot_time = _SharedBootTime()

        cfg = self.camera_config
        self.trigger = EvidenceTrigger(self._on_trigger_event, incident_ref=incident_ref)
        self.track = PoseTrack(cfg.mount_model(), fence.frame.to_local, max_age_s=cfg.pose_max_age_s)
        masker = PrivacyMasker(
            cfg.camera_model(),
            zones_from_local(fence.privacy_zones_local(), terrain_up_m=cfg.terrain_up_m,
                             structure_height_m=cfg.structure_height_m),
            cfg.uncertainty(),
            keep_inside=fence.area_local if cfg.mask_outside_area else None)
        self._masker = masker
        self.recorder: Recorder | None = None  # needs the vehicle clock: built on first telemetry
        rc = self.trigger_config.rc_switch()
        self._rc = RcSwitch(rc, self.trigger) if rc is not None else None
        self.camera = CameraComponent(self.trigger, cfg.identity(), system_id=vehicle_system_id,
                                      component_id=cfg.component_id, start_s=clock(),
                                      on_still=self._on_still)

    # -- link thread -------------------------------------------------------------------------
    def on_message(self, msg: Any, now_s: float) -> list[Any]:
        self._inbox.append((msg, now_s))
        if getattr(msg, "time_boot_ms", None) is not None and msg.get_srcComponent() == 1:
            self.boot_time.observe(msg.time_boot_ms, now_s)  # here: a live source waits for it
        return []

    def tick(self, now_s: float) -> list[Any]:
        out = []
        while self._outbox:
            out.append(self._outbox.popleft())
        return out

    # -- any thread --------------------------------------------------------------------------
    def pilot(self, start: bool, reason: str | None = None, operator: str | None = None,
              incident_ref: str | None = None) -> None:
        """The pilot's trigger key: start (with a reason) or stop recording."""
        self._inbox.append((None, (start, reason, operator, incident_ref)))

    def status(self) -> CaptureStatus:
        since = self._recording_since_s
        return CaptureStatus(
            recording=self.trigger.active, trigger_source=self.trigger.source,
            recording_for_s=None if since is None else self._clock() - since,
            segments_sealed=0 if self.recorder is None else self.recorder.segments_sent,
            frames_seen=self._frames_seen, camera_error=self._camera_error)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop recording (audited), seal the open segment, end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._vault.audit.append("camera_error", error="capture thread did not stop in time")
        self._finish()

    # -- capture thread ----------------------------------------------------------------------
    def _on_trigger_event(self, event: TriggerEvent) -> None:
        self._vault.audit.append(event.kind, **event.audit_fields())
        if event.kind == "trigger_start":
            self._recording_since_s = self._clock()
            self._say(f"recording ON ({event.source}: {event.reason or 'no reason given'})")
        elif event.kind == "trigger_stop":
            self._recording_since_s = None
            self._say(f"recording off ({event.source}: {event.reason or 'no reason given'})")
            if self.recorder is not None:
                self.recorder.sync()

    def _on_still(self, event: TriggerEvent) -> None:
        if self.recorder is not None:
            self.recorder.request_still(event)

    def _drain(self) -> None:
        now_s = self._clock()
        utc = datetime.now(UTC)
        while self._inbox:
            item, received_s = self._inbox.popleft()
            if item is None:
                start, reason, operator, incident_ref = received_s
                if start:
                    self.trigger.start("pilot", utc, operator=operator, reason=reason,
                                       incident_ref=incident_ref)
                else:
                    self.trigger.stop("pilot", utc, operator=operator, reason=reason)
                continue
            self.track.add_message(item)
            if self.recorder is None and item.get_type() == "GLOBAL_POSITION_INT":
                self._build_recorder(item.time_boot_ms, utc)
            if self._rc is not None:
                self._rc.on_message(item, utc)
            self._outbox.extend(self.camera.on_message(item, now_s, utc))
        self._outbox.extend(self.camera.tick(now_s))

    def _build_recorder(self, time_boot_ms: int, utc: datetime) -> None:
        cfg = self.camera_config
        self.recorder = Recorder(
            self._masker, self.track, self.trigger,
            lambda mp4, meta: self._vault.seal_segment(mp4, meta.as_dict()),
            BootClock.from_pair(time_boot_ms, utc), segment_s=cfg.segment_s,
            encoder=cfg.encoder_settings(), pre_event_s=self.trigger_config.pre_event_s,
            still_sink=lambda jpeg, meta: self._vault.seal_still(jpeg, meta))

    def _run(self) -> None:
        try:
            frames = iter(self._open_frames(self.camera_config, self.boot_time))
            while not self._stop.is_set():
                self._drain()
                frame = next(frames, None)
                if frame is None:
                    raise EOFError("the camera stream ended")
                self._frames_seen += 1
                self._drain()
                if self.recorder is not None:
                    self.recorder.on_frame(frame.time_boot_ms, frame.image)
        except Exception as exc:  # noqa: BLE001 -- any camera failure: stop recording, keep guarding
            self._camera_error = f"{type(exc).__name__}: {exc}"
            self._vault.audit.append("camera_error", error=self._camera_error,
                                     recording=self.trigger.active)
            self._say(f"camera failed ({self._camera_error}); recording stopped, the flight is still guarded")
            if self.trigger.active:
                self.trigger.stop(self.trigger.source or "pilot", datetime.now(UTC),
                                  reason=f"camera failed: {self._camera_error}")
            # keep answering the camera protocol (capture status) while the flight goes on
            while not self._stop.is_set():
                self._drain()
                time.sleep(0.05)

    def _finish(self) -> None:
        self._drain()
        if self.trigger.active:
            self.trigger.stop(self.trigger.source or "pilot", datetime.now(UTC), reason="flight ended")
        if self.recorder is not None:
            self.recorder.close()
