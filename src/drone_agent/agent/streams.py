"""Telemetry stream requests and the check that they arrive at the asked rate.

Theory of operation
-------------------
:class:`StreamSetup` asks for each message the agent needs with MAV_CMD_SET_MESSAGE_INTERVAL
(one command at a time: COMMAND_ACK names only the command, not the message, so concurrent requests
could not be told apart). If the vehicle answers UNSUPPORTED or never answers, the remaining
messages are requested the legacy way, REQUEST_DATA_STREAM per ArduPilot stream group at the
highest rate wanted in that group (fire and forget: there is no ACK). A rejection of one message
(DENIED/FAILED: the vehicle does not produce it) is recorded as "refused" and the next message is
asked for; whether that matters is :class:`RateCheck`'s call.

:class:`RateCheck` then counts arrivals from the autopilot over ``window_s`` and fails if any
asked-for message arrives at less than ``tolerance`` × the asked rate -- a vehicle that accepts a
request and does not honour it is caught before flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.command import CommandLong
from drone_agent.agent.errors import CommandRejected, LinkTimeout
from drone_agent.agent.session import Message, Outgoing, Peer, Session
from drone_agent.errors import VehicleError

AGENT_STREAMS_HZ: dict[str, float] = {
    "GLOBAL_POSITION_INT": 10.0,
    "ATTITUDE": 10.0,
    "SYS_STATUS": 2.0,
    "GPS_RAW_INT": 2.0,
    "EKF_STATUS_REPORT": 2.0,
    "EXTENDED_SYS_STATE": 2.0,
    "TERRAIN_REPORT": 1.0,
    "FENCE_STATUS": 1.0,
    "HOME_POSITION": 1.0,
}
"""What the guard and the status need, in Hz (the rates the SITL fixtures were recorded at)."""

LEGACY_STREAM_GROUP = {
    "GLOBAL_POSITION_INT": mavlink.MAV_DATA_STREAM_POSITION,
    "ATTITUDE": mavlink.MAV_DATA_STREAM_EXTRA1,
    "SYS_STATUS": mavlink.MAV_DATA_STREAM_EXTENDED_STATUS,
    "GPS_RAW_INT": mavlink.MAV_DATA_STREAM_EXTENDED_STATUS,
    "FENCE_STATUS": mavlink.MAV_DATA_STREAM_EXTENDED_STATUS,
    "EKF_STATUS_REPORT": mavlink.MAV_DATA_STREAM_EXTRA3,
    "TERRAIN_REPORT": mavlink.MAV_DATA_STREAM_EXTRA3,
    "EXTENDED_SYS_STATE": mavlink.MAV_DATA_STREAM_EXTENDED_STATUS,
    "HOME_POSITION": mavlink.MAV_DATA_STREAM_EXTENDED_STATUS,
}


def message_id(name: str) -> int:
    return getattr(mavlink, f"MAVLINK_MSG_ID_{name}")


@dataclass(frozen=True, slots=True)
class StreamReport:
    """How each stream was requested: "interval", "legacy" or "refused (reason)"."""

    methods: Mapping[str, str]


class StreamSetup(Session[StreamReport]):
    """SET_MESSAGE_INTERVAL for each stream, REQUEST_DATA_STREAM as the fallback."""

    def __init__(
        self,
        peer: Peer,
        rates_hz: Mapping[str, float] = AGENT_STREAMS_HZ,
        *,
        timeout_s: float = 0.5,
        retries: int = 2,
    ) -> None:
        super().__init__()
        self.peer = peer
        self.rates_hz = dict(rates_hz)
        self.timeout_s = timeout_s
        self.retries = retries
        self.methods: dict[str, str] = {}
        self._pending = list(self.rates_hz)
        self._current: CommandLong | None = None

    def _next(self, now_s: float) -> Outgoing:
        if not self._pending:
            return self._finish(StreamReport(dict(self.methods)))
        name = self._pending[0]
        self._current = CommandLong(
            self.peer,
            mavlink.MAV_CMD_SET_MESSAGE_INTERVAL,
            (message_id(name), 1e6 / self.rates_hz[name]),
            timeout_s=self.timeout_s,
            retries=self.retries,
        )
        out = self._current.start(now_s)
        self.deadline_s = self._current.deadline_s
        return out

    def _legacy(self) -> Outgoing:
        groups: dict[int, float] = {}
        for name in self._pending:
            group = LEGACY_STREAM_GROUP.get(name, mavlink.MAV_DATA_STREAM_ALL)
            groups[group] = max(groups.get(group, 0.0), self.rates_hz[name])
            self.methods[name] = "legacy"
        self._pending = []
        return [
            mavlink.MAVLink_request_data_stream_message(
                self.peer.target_system, self.peer.target_component, group, max(1, round(hz)), 1
            )
            for group, hz in groups.items()
        ]

    def _advance(self, now_s: float) -> Outgoing:
        current = self._current
        if current is None or not current.done:
            self.deadline_s = None if current is None else current.deadline_s
            return []
        try:
            current.result()
        except CommandRejected as exc:
            if exc.result != mavlink.MAV_RESULT_UNSUPPORTED:
                self.methods[self._pending.pop(0)] = f"refused ({exc.message})"
                return self._next(now_s)
            return self._legacy() + self._finish(StreamReport(dict(self.methods)))
        except LinkTimeout:
            return self._legacy() + self._finish(StreamReport(dict(self.methods)))
        self.methods[self._pending.pop(0)] = "interval"
        return self._next(now_s)

    def start(self, now_s: float) -> Outgoing:
        return self._next(now_s)

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self._done or self._current is None:
            return []
        return self._current.receive(msg, now_s) + self._advance(now_s)

    def poll(self, now_s: float) -> Outgoing:
        if self._done or self._current is None:
            return []
        return self._current.poll(now_s) + self._advance(now_s)


class RateCheck(Session[dict[str, float]]):
    """Measure the arrival rate of each asked-for message over a window."""

    def __init__(
        self,
        peer: Peer,
        rates_hz: Mapping[str, float] = AGENT_STREAMS_HZ,
        *,
        window_s: float = 2.0,
        tolerance: float = 0.7,
    ) -> None:
        super().__init__()
        self.peer = peer
        self.rates_hz = dict(rates_hz)
        self.window_s = window_s
        self.tolerance = tolerance
        self.counts = {name: 0 for name in self.rates_hz}
        self._start_s = 0.0

    def start(self, now_s: float) -> Outgoing:
        self._start_s = now_s
        self.deadline_s = now_s + self.window_s
        return []

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        name = msg.get_type()
        if not self._done and name in self.counts and self.peer.is_from_target(msg):
            self.counts[name] += 1
        return []

    def poll(self, now_s: float) -> Outgoing:
        if self._done or now_s < self._start_s + self.window_s:
            return []
        elapsed = now_s - self._start_s
        measured = {name: count / elapsed for name, count in self.counts.items()}
        slow = [
            f"{name} {measured[name]:.1f} Hz (asked {hz:g})"
            for name, hz in self.rates_hz.items()
            if measured[name] < self.tolerance * hz
        ]
        if slow:
            return self._fail(
                VehicleError(
                    "telemetry slower than asked: " + ", ".join(slow),
                    "the guard needs these rates; check the link bandwidth and SRx_ parameters",
                )
            )
        return self._finish(measured)
