"""Heartbeat out, autopilot identification, link-loss detection and recovery.

Theory of operation
-------------------
:class:`LinkMonitor` is a permanent observer on the link (it never finishes):

* **Out:** one HEARTBEAT per ``interval_s`` (1 Hz) as an onboard controller
  (MAV_TYPE_ONBOARD_CONTROLLER, MAV_AUTOPILOT_INVALID), so the autopilot and routers see us.
* **Identify:** the first HEARTBEAT whose ``autopilot`` is not MAV_AUTOPILOT_INVALID and whose type
  is not a GCS/onboard controller/camera names the autopilot; its system and component id come from
  the packet header, never from an assumption. The identity is then fixed for the session; other
  systems' heartbeats (a GCS, a second vehicle) are ignored.
* **Liveness:** every packet from the autopilot's system/component refreshes ``last_seen_s``
  (telemetry at 10 Hz detects loss far sooner than 1 Hz heartbeats). States::

        WAITING ──first autopilot heartbeat──► UP ──silence > timeout_s──► LOST
                                               ▲                            │
                                               └───any packet from it───────┘

  Each UP/LOST transition is queued as a :class:`LinkEvent` for the owner to drain (and log).
  With ``timeout_s`` 1.5 s and polls at ≥ 4 Hz, loss is reported within 2 s of the last packet.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.session import Message, Outgoing

NOT_AUTOPILOT_TYPES = frozenset(
    {
        mavlink.MAV_TYPE_GCS,
        mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
        mavlink.MAV_TYPE_CAMERA,
        mavlink.MAV_TYPE_GIMBAL,
        mavlink.MAV_TYPE_ADSB,
    }
)


@dataclass(frozen=True, slots=True)
class Autopilot:
    """Who the autopilot is, from its HEARTBEAT."""

    system_id: int
    component_id: int
    autopilot: int  # MAV_AUTOPILOT (3 = ArduPilot)
    vehicle_type: int  # MAV_TYPE (2 = quadrotor, ...)
    mavlink_version: int  # 2 when the heartbeat came as a MAVLink 2 frame

    @property
    def is_ardupilot(self) -> bool:
        return self.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA


@dataclass(frozen=True, slots=True)
class LinkEvent:
    kind: str  # "link_up" (first contact), "link_lost", "link_restored"
    time_s: float
    silence_s: float


class LinkMonitor:
    """Heartbeats out; who the autopilot is; whether we still hear it."""

    def __init__(self, *, timeout_s: float = 1.5, interval_s: float = 1.0) -> None:
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.autopilot: Autopilot | None = None
        self.last_seen_s: float | None = None
        self.up = False
        self._next_heartbeat_s: float | None = None
        self._events: list[LinkEvent] = []

    @property
    def deadline_s(self) -> float | None:
        times = [t for t in (self._next_heartbeat_s,) if t is not None]
        if self.up and self.last_seen_s is not None:
            times.append(self.last_seen_s + self.timeout_s)
        return min(times) if times else None

    def drain_events(self) -> list[LinkEvent]:
        events, self._events = self._events, []
        return events

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self.autopilot is None:
            if (
                msg.get_type() == "HEARTBEAT"
                and msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID
                and msg.type not in NOT_AUTOPILOT_TYPES
            ):
                self.autopilot = Autopilot(
                    msg.get_srcSystem(),
                    msg.get_srcComponent(),
                    msg.autopilot,
                    msg.type,
                    2 if msg.get_msgbuf()[:1] == b"\xfd" else 1,
                )
                self.up, self.last_seen_s = True, now_s
                self._events.append(LinkEvent("link_up", now_s, 0.0))
            return []
        if (
            msg.get_srcSystem() != self.autopilot.system_id
            or msg.get_srcComponent() != self.autopilot.component_id
        ):
            return []
        if not self.up:
            silence = now_s - (self.last_seen_s or now_s)
            self._events.append(LinkEvent("link_restored", now_s, silence))
            self.up = True
        self.last_seen_s = now_s
        return []

    def poll(self, now_s: float) -> Outgoing:
        out: Outgoing = []
        if self._next_heartbeat_s is None or now_s >= self._next_heartbeat_s:
            out.append(
                mavlink.MAVLink_heartbeat_message(
                    mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
                    mavlink.MAV_AUTOPILOT_INVALID,
                    0,
                    0,
                    mavlink.MAV_STATE_ACTIVE,
                    3,
                )
            )
            self._next_heartbeat_s = now_s + self.interval_s
        if self.up and self.last_seen_s is not None and now_s - self.last_seen_s > self.timeout_s:
            self.up = False
            self._events.append(LinkEvent("link_lost", now_s, now_s - self.last_seen_s))
        return out
