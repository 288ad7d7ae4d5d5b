"""Parameter read, and parameter set → verify (PARAM_REQUEST_READ / PARAM_SET / PARAM_VALUE).

Theory of operation
-------------------
:class:`ParamRead` asks for named parameters one at a time with PARAM_REQUEST_READ (index -1) and
waits for the PARAM_VALUE carrying the same name. A name the vehicle does not have gets no answer
(ArduPilot stays silent), so after ``retries`` timeouts the name is recorded as absent (``None``)
rather than failing: that is how version-dependent names are resolved (:func:`resolve_alias`).

:class:`ParamSet` sends PARAM_SET and waits for the PARAM_VALUE echo with the same name; the echoed
value must equal the requested one after float32 rounding (the wire type), else
:class:`~drone_agent.agent.errors.ParameterMismatch`. Timeouts re-send; after ``retries`` the set
fails with :class:`~drone_agent.agent.errors.LinkTimeout`. Sets run one parameter at a time so a
reply is never attributed to the wrong request; PARAM_VALUEs that other clients cause are ignored
unless they carry our parameter's name.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.ardupilot import ParamAlias
from drone_agent.agent.errors import LinkTimeout, ParameterMismatch
from drone_agent.agent.session import Message, Outgoing, Peer, Session


def as_float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


class ParamRead(Session[dict[str, float | None]]):
    """Read the named parameters; absent names map to None."""

    def __init__(
        self, peer: Peer, names: tuple[str, ...], *, timeout_s: float = 0.5, retries: int = 2
    ) -> None:
        super().__init__()
        self.peer = peer
        self.names = names
        self.timeout_s = timeout_s
        self.retries = retries
        self.values: dict[str, float | None] = {}
        self.types: dict[str, int] = {}
        self._index = 0
        self._tries = 0

    def _request(self, now_s: float) -> Outgoing:
        if self._index >= len(self.names):
            return self._finish(dict(self.values))
        self.deadline_s = now_s + self.timeout_s
        name = self.names[self._index]
        return [
            mavlink.MAVLink_param_request_read_message(
                self.peer.target_system, self.peer.target_component, name.encode(), -1
            )
        ]

    def start(self, now_s: float) -> Outgoing:
        return self._request(now_s)

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self._done or msg.get_type() != "PARAM_VALUE" or not self.peer.is_from_target(msg):
            return []
        name = self.names[self._index]
        if msg.param_id != name:
            return []
        self.values[name] = msg.param_value
        self.types[name] = msg.param_type
        self._index += 1
        self._tries = 0
        return self._request(now_s)

    def poll(self, now_s: float) -> Outgoing:
        if self._done or self.deadline_s is None or now_s < self.deadline_s:
            return []
        self._tries += 1
        if self._tries > self.retries:
            self.values[self.names[self._index]] = None
            self._index += 1
            self._tries = 0
        return self._request(now_s)


class ParamSet(Session[None]):
    """Set parameters one by one and verify each echo."""

    def __init__(
        self,
        peer: Peer,
        values: Mapping[str, float],
        *,
        types: Mapping[str, int] | None = None,
        timeout_s: float = 1.0,
        retries: int = 3,
    ) -> None:
        super().__init__()
        self.peer = peer
        self.items = tuple(values.items())
        self.types = dict(types or {})
        self.timeout_s = timeout_s
        self.retries = retries
        self._index = 0
        self._tries = 0

    def _send(self, now_s: float) -> Outgoing:
        if self._index >= len(self.items):
            return self._finish(None)
        name, value = self.items[self._index]
        self.deadline_s = now_s + self.timeout_s
        param_type = self.types.get(name, mavlink.MAV_PARAM_TYPE_REAL32)
        return [
            mavlink.MAVLink_param_set_message(
                self.peer.target_system,
                self.peer.target_component,
                name.encode(),
                float(value),
                param_type,
            )
        ]

    def start(self, now_s: float) -> Outgoing:
        return self._send(now_s)

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        if self._done or msg.get_type() != "PARAM_VALUE" or not self.peer.is_from_target(msg):
            return []
        name, value = self.items[self._index]
        if msg.param_id != name:
            return []
        if as_float32(msg.param_value) != as_float32(value):
            return self._fail(
                ParameterMismatch(
                    f"parameter {name}: set to {value:g}, vehicle reports {msg.param_value:g}",
                    "the value may be out of the parameter's range for this firmware",
                )
            )
        self._index += 1
        self._tries = 0
        return self._send(now_s)

    def poll(self, now_s: float) -> Outgoing:
        if self._done or self.deadline_s is None or now_s < self.deadline_s:
            return []
        self._tries += 1
        if self._tries > self.retries:
            name = self.items[self._index][0]
            return self._fail(
                LinkTimeout(
                    f"parameter {name}: no PARAM_VALUE after {self.retries + 1} tries",
                    "the vehicle may not have this parameter (check the firmware version)",
                )
            )
        return self._send(now_s)


def resolve_alias(alias: ParamAlias, read: Mapping[str, float | None]) -> tuple[str, float] | None:
    """(name present on the vehicle, value in SI units) for a version-dependent quantity."""
    for name, scale in alias.names:
        value = read.get(name)
        if value is not None:
            return name, value / scale
    return None
