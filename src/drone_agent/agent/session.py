"""The shape every MAVLink conversation of the agent has: a sans-IO state machine.

Theory of operation
-------------------
A session is created with everything it needs to know (who the vehicle is, what to ask), then
driven by its owner -- a test script or the IO adapter -- with three calls, each given the current
monotonic time ``now_s`` and each returning the messages to send (pymavlink message objects; the
adapter encodes them):

* ``start(now_s)`` once,
* ``receive(msg, now_s)`` for *every* decoded message from the link (a session ignores what is not
  addressed to it: wrong source system/component, other mission type, other command),
* ``poll(now_s)`` whenever time passes, for timeouts and retries.

When ``done`` is true, ``result()`` returns the value or raises the failure (a
:class:`~drone_agent.errors.VehicleError` subclass). A session never sleeps, reads a clock, or
touches a socket, so every timeout and retry is testable with a virtual clock. ``deadline_s``
tells the driver the next time ``poll`` has work to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.errors import DroneAgentError

T = TypeVar("T")
Message = mavlink.MAVLink_message
Outgoing = list[mavlink.MAVLink_message]


@dataclass(frozen=True, slots=True)
class Peer:
    """The autopilot we talk to (taken from its HEARTBEAT) and who we are."""

    target_system: int
    target_component: int
    our_system: int
    our_component: int

    def is_from_target(self, msg: Message) -> bool:
        return (
            msg.get_srcSystem() == self.target_system
            and msg.get_srcComponent() == self.target_component
        )

    def is_for_us(self, msg: Message) -> bool:
        """True if the message's target fields (when it has them) name us or broadcast."""
        system = getattr(msg, "target_system", 0)
        component = getattr(msg, "target_component", 0)
        return system in (0, self.our_system) and component in (0, self.our_component)


class Session(Generic[T]):
    """Base class: bookkeeping of completion, result and failure."""

    def __init__(self) -> None:
        self._done = False
        self._value: T | None = None
        self._error: DroneAgentError | None = None
        self.deadline_s: float | None = None

    @property
    def done(self) -> bool:
        return self._done

    def result(self) -> T:
        if not self._done:
            raise RuntimeError(f"{type(self).__name__} is still running")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def _finish(self, value: T) -> Outgoing:
        self._done, self._value, self.deadline_s = True, value, None
        return []

    def _fail(self, error: DroneAgentError) -> Outgoing:
        self._done, self._error, self.deadline_s = True, error, None
        return []

    def start(self, now_s: float) -> Outgoing:
        raise NotImplementedError

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        raise NotImplementedError

    def poll(self, now_s: float) -> Outgoing:
        raise NotImplementedError
