"""Wire the pure guard to the link: evaluate on every position update, act at once, log.

Theory of operation
-------------------
:class:`GuardRunner` is a link observer. The :class:`~drone_agent.agent.state.StateTracker` sits
before it in the observer list, so when a GLOBAL_POSITION_INT from the autopilot arrives the
snapshot already holds it; the runner converts it to the fence's local frame, calls
:func:`~drone_agent.agent.guard.decide`, and for a decision with an action:

* STOP / RTL / LAND -- starts a :class:`~drone_agent.agent.command.ModeChange` and writes its
  COMMAND_LONG to the link *immediately* (not at the end of the loop turn), then keeps feeding
  the session until the heartbeat confirms the mode.
* every action, WARN included, is announced with a short STATUSTEXT (WARNING / CRITICAL / ALERT;
  ArduPilot forwards it to every ground station) so the pilot sees why the mode changed. If BRAKE is refused (a firmware without
  it) the runner falls back to LOITER for this and every later stop;
* every decision with an action -- and every failure to carry one out -- goes to the audit log
  with the vehicle state and the fence check that caused it.

``reaction_s`` records, per command, the time from the position packet's arrival (before decoding)
to the command's bytes being written: the agent's own latency, telemetry in → command out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.command import ModeChange
from drone_agent.agent.errors import CommandRejected
from drone_agent.agent.guard import (
    Action,
    GuardConfig,
    GuardDecision,
    GuardState,
    Phase,
    check_record,
    decide,
    kinematic_state,
    velocity_after_reaction,
)
from drone_agent.agent.session import Message, Outgoing, Peer
from drone_agent.agent.state import VehicleState
from drone_agent.errors import VehicleError

STATUSTEXT_LEN = 50

AUDIT_EVENTS = {
    Action.WARN: "guard_warn",
    Action.STOP: "guard_stop",
    Action.RTL: "guard_rtl",
    Action.LAND: "guard_land",
}


@dataclass(frozen=True, slots=True)
class GuardReaction:
    action: str
    mode: str | None
    reaction_s: float
    vehicle_time_s: float


class GuardRunner:
    """Link observer that runs the guard on every position update."""

    def __init__(
        self,
        fence: Any,
        kinematic_type: type,
        config: GuardConfig,
        peer: Peer,
        state: Callable[[], VehicleState],
        send: Callable[[Outgoing], None],
        audit: Callable[..., Any],
        clock: Callable[[], float],
        rx_time: Callable[[], float],
        ground_amsl_m: Callable[[float, float], float | None] | None = None,
    ) -> None:
        self.fence = fence
        self.kinematic_type = kinematic_type
        self.config = config
        self.peer = peer
        self._state = state
        self._send = send
        self._audit = audit
        self._clock = clock
        self._rx_time = rx_time
        self._ground_amsl_m = ground_amsl_m
        self.guard = GuardState()
        self.stop_mode = config.stop_mode
        self.last_decision: GuardDecision | None = None
        self.reactions: list[GuardReaction] = []
        self._mode_change: ModeChange | None = None
        self._velocities: deque[tuple[float, float, float, float]] = deque(maxlen=10)
        self._text_id = 0  # STATUSTEXT id of the last chunked message

    @property
    def deadline_s(self) -> float | None:
        return None if self._mode_change is None else self._mode_change.deadline_s

    def receive(self, msg: Message, now_s: float) -> Outgoing:
        out: Outgoing = []
        if self._mode_change is not None:
            out += self._mode_change.receive(msg, now_s)
            self._settle(now_s)
        if msg.get_type() == "GLOBAL_POSITION_INT" and self.peer.is_from_target(msg):
            self._evaluate(now_s)
        return out

    def poll(self, now_s: float) -> Outgoing:
        if self._mode_change is None:
            return []
        out = self._mode_change.poll(now_s)
        self._settle(now_s)
        return out

    def _evaluate(self, now_s: float) -> None:
        vehicle = self._state()
        kin = kinematic_state(vehicle, self.fence.frame, self.kinematic_type, self._ground_amsl_m)
        if kin is None:
            return
        self._velocities.append(((vehicle.time_boot_ms or 0) / 1000.0, kin.vel_east_mps,
                                 kin.vel_north_mps, kin.vel_up_mps))
        ahead = velocity_after_reaction(tuple(self._velocities), self.fence.limits.reaction_latency_s)
        if ahead is not None:  # still accelerating: judge the speed the stop will start from
            kin = replace(kin, vel_east_mps=ahead[0], vel_north_mps=ahead[1], vel_up_mps=ahead[2])
        self.guard, decision = decide(self.guard, self.fence, kin, vehicle, self.config,
                                      self.stop_mode)
        self.last_decision = decision
        if decision.action is Action.NONE:
            return
        if decision.action is not Action.WARN:
            self._command(decision.mode or self.stop_mode, now_s)
        self._text_id = self._text_id % 65535 + 1
        self._send(_statustext(decision, self._text_id))
        self.reactions.append(
            GuardReaction(decision.action.value, decision.mode, self._clock() - self._rx_time(),
                          (vehicle.time_boot_ms or 0) / 1000.0)
        )
        self._audit(AUDIT_EVENTS[decision.action], reason=decision.reason, mode=decision.mode,
                    phase=decision.phase.value, state=vehicle.as_dict(),
                    check=check_record(decision.check), closing=decision.closing)

    def _command(self, mode: str, now_s: float) -> None:
        self._mode_change = ModeChange(self.peer, mode, timeout_s=0.5, retries=3)
        self._send(self._mode_change.start(now_s))

    def _settle(self, now_s: float) -> None:
        change = self._mode_change
        if change is None or not change.done:
            return
        self._mode_change = None
        try:
            change.result()
        except VehicleError as exc:
            self._audit("guard_command_failed", mode=change.mode, reason=exc.message,
                        state=self._state().as_dict())
            if isinstance(exc, CommandRejected) and change.mode == "BRAKE":
                self.stop_mode = self.config.fallback_stop_mode
                if self.guard.phase is Phase.STOPPED:
                    self._command(self.stop_mode, now_s)


def _statustext(decision: GuardDecision, text_id: int) -> list[Message]:
    """STATUSTEXT for the ground stations: what the agent did, and why. Longer than one
    message's 50 characters, it goes in MAVLink 2 chunks (``id`` = ``text_id``, ``chunk_seq``),
    which QGroundControl and MAVProxy join again."""
    check = decision.check
    zone = check.breach_zone or check.nearest_zone
    ttb = check.time_to_breach_s
    if decision.action is Action.WARN:
        severity, text = mavlink.MAV_SEVERITY_WARNING, f"Agent: {zone} breach in {ttb:.0f}s"
    elif decision.action is Action.STOP:
        severity, text = mavlink.MAV_SEVERITY_CRITICAL, f"Agent {decision.mode}: near {zone}"
    else:
        severity, text = mavlink.MAV_SEVERITY_ALERT, f"Agent {decision.mode}: outside {zone}"
    data = text.encode()
    if len(data) <= STATUSTEXT_LEN:
        return [mavlink.MAVLink_statustext_message(severity, data, 0, 0)]
    chunks = [data[i:i + STATUSTEXT_LEN] for i in range(0, len(data), STATUSTEXT_LEN)]
    if len(chunks[-1]) == STATUSTEXT_LEN:
        chunks.append(b"")  # the last chunk must be short: that is how receivers know it is last
    return [mavlink.MAVLink_statustext_message(severity, chunk, text_id, seq)
            for seq, chunk in enumerate(chunks)]
