"""Test tools shipped with the package (httpcore/trio style): a virtual clock, a scripted
ArduCopter-like MAVLink peer, and a driver that runs sans-IO sessions against it.

Theory of operation
-------------------
:class:`MockClock` is virtual monotonic time that only moves when told (``advance``/``jump_to``;
it refuses to go backwards). :func:`converse` runs one session to completion against a
:class:`FakeAutopilot`: every message crosses a real MAVLink 2 encode/decode (two
:class:`~drone_agent.agent.codec.Codec` objects, so signing and framing are exercised), an optional
``drop`` hook loses packets, and when nobody has anything to say the clock *autojumps* to the
next deadline of the session, the observers or the peer (trio's ``autojump_threshold`` idea). A
test of a 5-retry timeout therefore runs in microseconds and is exactly reproducible.

:class:`FakeAutopilot` answers only what the agent's sessions use (heartbeat, COMMAND_LONG,
PARAM_*, the fence mission protocol) the way ArduCopter 4.8 does in the recorded SITL logs. Its
knobs script faults: per-command results, a fence that is rejected or stored altered, silence.
It is a protocol peer, not a flight simulator (that is ``drone_agent.sim``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec
from drone_agent.agent.session import Message, Outgoing, Session

UNIX_BASE_S = 1_795_000_000.0  # a fixed wall-clock origin for signing timestamps in tests


class MockClock:
    """Virtual monotonic seconds."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s

    def __call__(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> None:
        self.jump_to(self._now_s + dt_s)

    def jump_to(self, t_s: float) -> None:
        if t_s < self._now_s:
            raise ValueError("time can't go backwards")
        self._now_s = t_s


@dataclass
class FakeAutopilot:
    """A scripted ArduCopter-like peer (system 1, component 1 unless told otherwise)."""

    system_id: int = 1
    component_id: int = 1
    params: dict[str, float] = field(default_factory=dict)
    command_results: dict[int, list[int]] = field(default_factory=dict)
    custom_mode: int = 0
    armed: bool = False
    mode_sticks: bool = True
    fence: list[Message] = field(default_factory=list)
    fence_alter: Callable[[list[Message]], list[Message]] | None = None
    request_int: bool = False
    silent: bool = False
    ignore_ack: bool = False
    heartbeat_interval_s: float = 1.0
    received: list[Message] = field(default_factory=list)
    _upload: list[Message] = field(default_factory=list)
    _upload_count: int = 0
    _next_heartbeat_s: float = 0.0

    @property
    def deadline_s(self) -> float:
        return self._next_heartbeat_s

    def heartbeat(self) -> Message:
        base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        if self.armed:
            base |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        return mavlink.MAVLink_heartbeat_message(
            mavlink.MAV_TYPE_QUADROTOR,
            mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
            base,
            self.custom_mode,
            mavlink.MAV_STATE_STANDBY,
            3,
        )

    def poll(self, now_s: float) -> Outgoing:
        if now_s < self._next_heartbeat_s:
            return []
        self._next_heartbeat_s = now_s + self.heartbeat_interval_s
        return [] if self.silent else [self.heartbeat()]

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        self.received.append(msg)
        if self.silent:
            return []
        if getattr(msg, "target_system", self.system_id) not in (0, self.system_id):
            return []
        handler = getattr(self, "_on_" + msg.get_type().lower(), None)
        return [] if handler is None else handler(msg)

    # --- commands -------------------------------------------------------------------------
    def _ack(self, msg: Message, result: int) -> Message:
        return mavlink.MAVLink_command_ack_message(
            msg.command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
        )

    def _on_command_long(self, msg: Message) -> Outgoing:
        if self.ignore_ack:
            return []
        scripted = self.command_results.get(msg.command)
        result = scripted.pop(0) if scripted else mavlink.MAV_RESULT_ACCEPTED
        out: Outgoing = []
        if result == mavlink.MAV_RESULT_ACCEPTED:
            if msg.command == mavlink.MAV_CMD_DO_SET_MODE and self.mode_sticks:
                self.custom_mode = int(msg.param2)
            elif msg.command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM:
                self.armed = msg.param1 == 1
        elif result == mavlink.MAV_RESULT_FAILED:
            out.append(mavlink.MAVLink_statustext_message(2, b"Arm: Need Position Estimate", 0, 0))
        return out + [self._ack(msg, result)]

    # --- parameters -----------------------------------------------------------------------
    def _param_value(self, name: str) -> Message:
        return mavlink.MAVLink_param_value_message(
            name.encode(), self.params[name], mavlink.MAV_PARAM_TYPE_REAL32, len(self.params), 65535
        )

    def _on_param_request_read(self, msg: Message) -> Outgoing:
        return [self._param_value(msg.param_id)] if msg.param_id in self.params else []

    def _on_param_set(self, msg: Message) -> Outgoing:
        if msg.param_id not in self.params:
            return []
        self.params[msg.param_id] = msg.param_value
        return [self._param_value(msg.param_id)]

    # --- fence mission protocol -------------------------------------------------------------
    def _request(self, msg: Message, seq: int) -> Message:
        kind = (
            mavlink.MAVLink_mission_request_int_message
            if self.request_int
            else mavlink.MAVLink_mission_request_message
        )
        return kind(msg.get_srcSystem(), msg.get_srcComponent(), seq, mavlink.MAV_MISSION_TYPE_FENCE)

    def _mission_ack(self, msg: Message, result: int) -> Message:
        return mavlink.MAVLink_mission_ack_message(
            msg.get_srcSystem(), msg.get_srcComponent(), result, mavlink.MAV_MISSION_TYPE_FENCE
        )

    def _on_mission_count(self, msg: Message) -> Outgoing:
        if msg.mission_type != mavlink.MAV_MISSION_TYPE_FENCE:
            return []
        self._upload, self._upload_count = [], msg.count
        if msg.count == 0:
            self.fence = []
            return [self._mission_ack(msg, mavlink.MAV_MISSION_ACCEPTED)]
        return [self._request(msg, 0)]

    def _on_mission_item_int(self, msg: Message) -> Outgoing:
        if msg.mission_type != mavlink.MAV_MISSION_TYPE_FENCE or msg.seq != len(self._upload):
            return []
        self._upload.append(msg)
        if len(self._upload) < self._upload_count:
            return [self._request(msg, len(self._upload))]
        problem = _validate_fence(self._upload)
        if problem:
            return [
                mavlink.MAVLink_statustext_message(4, problem.encode(), 0, 0),
                mavlink.MAVLink_statustext_message(4, b"Fence validation failed", 0, 0),
                self._mission_ack(msg, mavlink.MAV_MISSION_ERROR),
            ]
        stored = [_as_stored(item) for item in self._upload]
        self.fence = self.fence_alter(stored) if self.fence_alter else stored
        return [
            self._mission_ack(msg, mavlink.MAV_MISSION_ACCEPTED),
            mavlink.MAVLink_statustext_message(7, b"Fence Indexed OK", 0, 0),
        ]

    def _on_mission_request_list(self, msg: Message) -> Outgoing:
        if msg.mission_type != mavlink.MAV_MISSION_TYPE_FENCE:
            return []
        return [
            mavlink.MAVLink_mission_count_message(
                msg.get_srcSystem(), msg.get_srcComponent(), len(self.fence),
                mavlink.MAV_MISSION_TYPE_FENCE,
            )
        ]

    def _on_mission_request_int(self, msg: Message) -> Outgoing:
        if msg.mission_type != mavlink.MAV_MISSION_TYPE_FENCE or msg.seq >= len(self.fence):
            return []
        item = self.fence[msg.seq]
        item.target_system, item.target_component = msg.get_srcSystem(), msg.get_srcComponent()
        return [item]


def _validate_fence(items: list[Message]) -> str:
    index = 0
    while index < len(items):
        item = items[index]
        if item.command in (
            mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            count = int(item.param1)
            if count < 3:
                return f"Invalid vertex count ({count})"
            index += count
        else:
            index += 1
    return ""


def _as_stored(item: Message) -> Message:
    return mavlink.MAVLink_mission_item_int_message(
        0, 0, item.seq, item.frame, item.command, 0, 0, item.param1, 0.0, 0.0, 0.0,
        item.x, item.y, 0.0, mavlink.MAV_MISSION_TYPE_FENCE,
    )




def converse(
    session: Session,
    vehicle: FakeAutopilot,
    clock: MockClock,
    *,
    observers: Iterable = (),
    agent_codec: Codec | None = None,
    vehicle_codec: Codec | None = None,
    drop: Callable[[str, Message], bool] | None = None,
    limit_s: float = 120.0,
) -> list[tuple[float, str, Message]]:
    """Run ``session`` to completion against ``vehicle``; return the transcript.

    Transcript entries are ``(time_s, "agent"|"vehicle", message)`` for every delivered message.
    ``drop(direction, msg)`` returning True loses the packet. Raises RuntimeError if the session
    has not finished after ``limit_s`` of virtual time.
    """
    agent_codec = agent_codec or Codec(254, 191)
    vehicle_codec = vehicle_codec or Codec(vehicle.system_id, vehicle.component_id)
    watchers = list(observers)
    transcript: list[tuple[float, str, Message]] = []
    end_s = clock() + limit_s

    def deliver(direction: str, msgs: Outgoing) -> list[Message]:
        sender, receiver = (
            (agent_codec, vehicle_codec) if direction == "agent" else (vehicle_codec, agent_codec)
        )
        out: list[Message] = []
        for msg in msgs:
            data = sender.encode(msg, UNIX_BASE_S + clock())
            for decoded in receiver.feed(data, UNIX_BASE_S + clock()):
                if drop is not None and drop(direction, decoded):
                    continue
                transcript.append((clock(), direction, decoded))
                out.append(decoded)
        return out

    to_vehicle = deliver("agent", session.start(clock()))
    while True:
        now = clock()
        to_agent: list[Message] = []
        for msg in to_vehicle:
            to_agent += deliver("vehicle", vehicle.receive(msg, now))
        to_agent += deliver("vehicle", vehicle.poll(now))
        replies: Outgoing = []
        for msg in to_agent:
            for watcher in watchers:
                replies += watcher.receive(msg, now)
            if not session.done:
                replies += session.receive(msg, now)
        for watcher in watchers:
            replies += watcher.poll(now)
        if not session.done:
            replies += session.poll(now)
        to_vehicle = deliver("agent", replies)
        if session.done and not to_vehicle:
            return transcript
        if not to_vehicle and not to_agent:
            deadlines = [vehicle.deadline_s, session.deadline_s]
            deadlines += [getattr(w, "deadline_s", None) for w in watchers]
            upcoming = [t for t in deadlines if t is not None and t > now]
            if not upcoming or min(upcoming) > end_s:
                raise RuntimeError(f"{type(session).__name__} did not finish by {end_s:g} s")
            clock.jump_to(min(upcoming))


def rectangle_zone_file(
    path,  # noqa: ANN001 -- a pathlib.Path to write
    home_lat_deg: float,
    home_lon_deg: float,
    *,
    north_m: float,
    south_m: float,
    east_m: float,
    west_m: float,
    no_fly: tuple[tuple[str, float, float, float], ...] = (),
) -> None:
    """Write a GeoJSON zone file: a rectangular operation area around home (metres from home)
    and optional no-fly circles ``(name, east_m, north_m, radius_m)`` -- for tests and benches."""
    import json
    import math

    m_per_deg_lat = 111_320.0
    m_per_deg_lon = m_per_deg_lat * math.cos(math.radians(home_lat_deg))

    def lonlat(e: float, n: float) -> list[float]:
        return [home_lon_deg + e / m_per_deg_lon, home_lat_deg + n / m_per_deg_lat]

    ring = [lonlat(-west_m, -south_m), lonlat(east_m, -south_m), lonlat(east_m, north_m),
            lonlat(-west_m, north_m), lonlat(-west_m, -south_m)]
    features = [
        {
            "type": "Feature",
            "properties": {"kind": "operation_area", "name": "Test area"},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
    ]
    for name, e, n, radius_m in no_fly:
        features.append(
            {
                "type": "Feature",
                "properties": {"kind": "no_fly", "name": name, "radius_m": radius_m},
                "geometry": {"type": "Point", "coordinates": lonlat(e, n)},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
