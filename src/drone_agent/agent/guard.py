"""The in-flight guard: a pure decision function from (fence check, vehicle state) to actions.

Theory of operation
-------------------
On every position update the caller turns the vehicle state into a ``KinematicState`` in the
fence's local frame (:func:`kinematic_state`) and calls :func:`decide` with the compiled fence.
:func:`decide` evaluates the fence twice -- at the current state and ``lookahead_s`` ahead at the
current velocity -- and returns the next :class:`GuardState` and a :class:`GuardDecision`.

Escalation (``phase``)::

    CLEAR ──time to breach < stop time + stop margin + warn margin──► WARNED   (STATUSTEXT + log)
    CLEAR/WARNED ──danger──► STOPPED   (BRAKE; LOITER where BRAKE is unavailable)
    any ──legal boundary crossed──► BREACHED   (RTL or LAND, configurable)
    WARNED/STOPPED ──no danger, out of the safety margin, not closing──► CLEAR

*Danger* is: the fence says ``must_stop`` (the stopping distance along the current velocity
reaches the effective boundary, i.e. the legal boundary less the safety margin), or the time to
breach is below the stopping time + ``stop_margin_s``. "Stopping time" here is the stopping
distance (reaction latency × v + v²/2a, the geofence's model, configured in ``[limits]``
``reaction_latency_s`` / ``braking_decel_mps2``) divided by the present speed -- the time the
vehicle would need to cover it -- so ``stop_margin_s`` is extra distance proportional to speed
(0.5 s = 5 m at 10 m/s) on top of the fence's safety margin. Inside the safety margin the fence reports a
breach time of 0 whatever the direction, so there danger means *closing*: a margin (horizontal
or vertical) that shrinks over the look-ahead by more than ``closing_epsilon_m``.

Hysteresis, so the agent does not fight the pilot: once STOPPED, the pilot may fly in any
direction that does not close on the boundary. Closing again stops it again when either the
vehicle has left the stop mode (someone switched it back; after the HEARTBEAT confirmed the stop
mode, or ``command_holdoff_s`` after the command when it never did) or it is *speeding up*
towards the boundary (speed above the slowest since the stop by ``speedup_epsilon_mps``) -- the
second rule reacts at telemetry rate, without waiting for the 1 Hz HEARTBEAT to show a mode
change. A decelerating vehicle in the stop mode is left alone. In BREACHED the action is re-asserted only if the vehicle leaves the
action mode while still outside, at most every ``reassert_s`` (vehicle time), mirroring
ArduPilot's own manual-recovery window.

The climb towards the ceiling is the same rule on the vertical axis: the fence's
``time_to_breach_s`` includes the ceiling (height above the closest surface), and
``vertical_margin_m`` closing counts as closing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum
from collections.abc import Callable
from typing import Any, Protocol

from drone_agent.agent.state import VehicleState
from drone_agent.errors import InputError


class Phase(str, Enum):
    CLEAR = "clear"
    WARNED = "warned"
    STOPPED = "stopped"
    BREACHED = "breached"


class Action(str, Enum):
    NONE = "none"
    WARN = "warn"
    STOP = "stop"
    RTL = "rtl"
    LAND = "land"


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """The profile's ``[guard]`` table (see :func:`guard_config_from_table`)."""

    stop_mode: str = "BRAKE"
    fallback_stop_mode: str = "LOITER"
    breach_action: str = "RTL"  # or "LAND"
    stop_margin_s: float = 0.5
    warn_margin_s: float = 5.0
    lookahead_s: float = 0.5
    closing_epsilon_m: float = 0.05
    reassert_s: float = 3.0
    command_holdoff_s: float = 1.5
    speedup_epsilon_mps: float = 0.5

    def __post_init__(self) -> None:
        if self.breach_action not in ("RTL", "LAND"):
            raise InputError(
                f"[guard] breach_action = {self.breach_action!r}", "use \"RTL\" or \"LAND\""
            )
        if self.stop_mode not in ("BRAKE", "LOITER"):
            raise InputError(f"[guard] stop_mode = {self.stop_mode!r}", "use \"BRAKE\" or \"LOITER\"")
        for name in (
            "stop_margin_s", "warn_margin_s", "lookahead_s", "reassert_s", "command_holdoff_s"
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 60):
                raise InputError(f"[guard] {name} = {value!r}", "give seconds between 0 and 60")
        if self.lookahead_s <= 0:
            raise InputError("[guard] lookahead_s must be > 0", "0.5 s is a good value")

    @property
    def breach_mode(self) -> str:
        return self.breach_action


GUARD_KEYS = (
    "stop_mode",
    "breach_action",
    "stop_margin_s",
    "warn_margin_s",
    "lookahead_s",
    "reassert_s",
    "command_holdoff_s",
)


def guard_config_from_table(table: dict[str, Any] | None, source: str = "profile") -> GuardConfig:
    """Parse ``[guard]``; unknown keys are input errors."""
    table = dict(table or {})
    unknown = set(table) - set(GUARD_KEYS)
    if unknown:
        raise InputError(
            f"{source} [guard]: unknown key(s) {', '.join(sorted(unknown))}",
            f"known keys: {', '.join(GUARD_KEYS)}",
        )
    for key in ("stop_mode", "breach_action"):
        if key in table:
            if not isinstance(table[key], str):
                raise InputError(f"{source} [guard] {key} must be a string", "e.g. \"BRAKE\", \"RTL\"")
            table[key] = table[key].upper()
    return GuardConfig(**table)


class FenceLike(Protocol):
    def check(self, state: Any) -> Any: ...


class FrameLike(Protocol):
    def to_local(self, lat_deg: float, lon_deg: float) -> tuple[float, float]: ...


@dataclass(frozen=True, slots=True)
class GuardState:
    phase: Phase = Phase.CLEAR
    last_command_time_s: float = -math.inf
    stops: int = 0
    warnings: int = 0
    breaches: int = 0
    mode_confirmed: bool = False  # the vehicle has reported the commanded mode since the command
    min_speed_mps: float = math.inf  # slowest speed seen since the last stop


@dataclass(frozen=True, slots=True)
class GuardDecision:
    action: Action
    mode: str | None  # flight mode to command, if any
    reason: str
    phase: Phase
    check: Any = field(repr=False, default=None)
    closing: bool = False


def check_record(check: Any) -> dict[str, Any]:
    """The FenceCheck's fields as a JSON-safe dict (non-finite numbers become None)."""
    names = getattr(check, "__slots__", None) or getattr(check, "__dataclass_fields__", {})
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(check, name)
        if hasattr(value, "item") and not isinstance(value, (str, tuple)):
            value = value.item()  # numpy scalars (numpy.bool_, float64) from the fence maths
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def kinematic_state(
    vehicle: VehicleState,
    frame: FrameLike,
    kinematic_type: type,
    ground_amsl_m: Callable[[float, float], float | None] | None = None,
) -> Any | None:
    """The vehicle in the fence's local frame, or None without a position/height yet.

    Height above ground: the flight controller's valid TERRAIN_REPORT first; else, when
    ``ground_amsl_m`` (a local elevation file) knows the ground under the vehicle, AMSL altitude
    less that; else height above home (acceptable only where the profile declares flat ground --
    the pre-flight gate enforces that).
    """
    height = vehicle.height_agl_m
    if vehicle.alt_agl_m is None and ground_amsl_m is not None and vehicle.alt_amsl_m is not None:
        ground = ground_amsl_m(vehicle.lat_deg, vehicle.lon_deg)  # type: ignore[arg-type]
        if ground is not None:
            height = vehicle.alt_amsl_m - ground
    if not vehicle.has_position or height is None:
        return None
    east_m, north_m = frame.to_local(vehicle.lat_deg, vehicle.lon_deg)  # type: ignore[arg-type]
    return kinematic_type(
        east_m, north_m, height, vehicle.vel_east_mps, vehicle.vel_north_mps, vehicle.vel_up_mps
    )


ACCEL_WINDOW_S = 0.3  # velocity samples at least this far apart estimate the acceleration
MAX_ACCEL_MPS2 = 6.0  # beyond what a multicopter's position controller commands (noise guard)


def velocity_after_reaction(
    history: tuple[tuple[float, float, float, float], ...], reaction_s: float
) -> tuple[float, float, float] | None:
    """The velocity the vehicle will have when a stop commanded now takes effect.

    ``history`` holds ``(time_s, vel_east, vel_north, vel_up)`` samples, oldest first. The
    stopping model (``v*r + v^2/2a``) assumes constant speed during the reaction time ``r``; a
    vehicle still accelerating towards a boundary covers more. The acceleration over the last
    ``ACCEL_WINDOW_S`` (clipped to ``MAX_ACCEL_MPS2``) is extrapolated over ``r``; the result is
    used only when it is faster than now, so a decelerating vehicle is judged at its present
    speed. ``v'*r + v'^2/2a`` then bounds ``v*r + a*r^2/2 + (v + a*r)^2/2a`` from above. None
    when there is no acceleration to add.
    """
    if len(history) < 2:
        return None
    t_now, *v_now = history[-1]
    older = [h for h in history if t_now - h[0] >= ACCEL_WINDOW_S]
    if not older:
        return None
    t_old, *v_old = older[-1]
    accel = [(a - b) / (t_now - t_old) for a, b in zip(v_now, v_old)]
    norm = math.sqrt(sum(a * a for a in accel))
    if norm > MAX_ACCEL_MPS2:
        accel = [a * MAX_ACCEL_MPS2 / norm for a in accel]
    ahead = tuple(v + a * reaction_s for v, a in zip(v_now, accel))
    if sum(v * v for v in ahead) <= sum(v * v for v in v_now):
        return None
    return ahead  # type: ignore[return-value]


def _closing(now: Any, ahead: Any, epsilon_m: float) -> bool:
    return bool(
        ahead.horizontal_margin_m < now.horizontal_margin_m - epsilon_m
        or ahead.vertical_margin_m < now.vertical_margin_m - epsilon_m
    )


def decide(
    guard: GuardState,
    fence: FenceLike,
    kin: Any,
    vehicle: VehicleState,
    config: GuardConfig,
    stop_mode: str | None = None,
) -> tuple[GuardState, GuardDecision]:
    """One guard step (pure). ``stop_mode`` overrides the configured one (BRAKE unavailable)."""
    stop_mode = stop_mode or config.stop_mode
    now_s = (vehicle.time_boot_ms or 0) / 1000.0
    speed = math.sqrt(kin.vel_east_mps**2 + kin.vel_north_mps**2 + kin.vel_up_mps**2)
    check = fence.check(kin)
    ahead = fence.check(kin.advanced(config.lookahead_s))
    closing = _closing(check, ahead, config.closing_epsilon_m)
    ttb = check.time_to_breach_s
    # The stopping distance expressed as time at the present speed (r + v/2a): comparing it
    # with the time to breach is the distance comparison the stopping model implies.
    stop_equiv_s = check.stopping_distance_m / speed if speed > 1e-6 else 0.0
    stop_horizon_s = stop_equiv_s + config.stop_margin_s

    def decision(action: Action, mode: str | None, reason: str, phase: Phase) -> GuardDecision:
        return GuardDecision(action, mode, reason, phase, check, closing)

    if not check.inside:
        action = Action.RTL if config.breach_action == "RTL" else Action.LAND
        due = guard.phase != Phase.BREACHED or (
            vehicle.mode != config.breach_mode and now_s - guard.last_command_time_s >= config.reassert_s
        )
        reason = "boundary crossed: " + "; ".join(check.violations)
        if due:
            new = GuardState(Phase.BREACHED, now_s, guard.stops, guard.warnings, guard.breaches + 1)
            return new, decision(action, config.breach_mode, reason, Phase.BREACHED)
        return guard, decision(Action.NONE, None, reason, Phase.BREACHED)
    if guard.phase == Phase.STOPPED:
        guard = replace(
            guard,
            mode_confirmed=guard.mode_confirmed or vehicle.mode == stop_mode,
            min_speed_mps=min(guard.min_speed_mps, speed),
        )

    if check.in_margin:
        danger = closing
    else:
        danger = bool(check.must_stop) or (ttb is not None and ttb <= stop_horizon_s and closing)
    where = f"{check.breach_zone or check.nearest_zone} ({check.breach_kind or check.nearest_kind})"
    if danger:
        reason = (
            f"closing on {where} inside the safety margin"
            if check.in_margin
            else f"{where}: breach in {ttb:.1f} s, stopping needs "
            f"{check.stopping_distance_m:.1f} m ({stop_equiv_s:.1f} s at {speed:.1f} m/s)"
            if ttb is not None
            else f"{where}: stopping distance {check.stopping_distance_m:.1f} m reaches the margin"
        )
        since_s = now_s - guard.last_command_time_s
        left_stop_mode = vehicle.mode != stop_mode and (
            guard.mode_confirmed or since_s >= config.command_holdoff_s
        )
        speeding_up = speed > guard.min_speed_mps + config.speedup_epsilon_mps
        if guard.phase != Phase.STOPPED or left_stop_mode or speeding_up:
            if guard.phase == Phase.STOPPED:
                reason += " (again: " + ("mode changed" if left_stop_mode else "speeding up") + ")"
            new = GuardState(
                Phase.STOPPED, now_s, guard.stops + 1, guard.warnings, guard.breaches,
                mode_confirmed=False, min_speed_mps=speed,
            )
            return new, decision(Action.STOP, stop_mode, reason, Phase.STOPPED)
        return guard, decision(Action.NONE, None, reason, Phase.STOPPED)

    if guard.phase == Phase.STOPPED and check.in_margin:
        return guard, decision(Action.NONE, None, "stopped; moving away is allowed", Phase.STOPPED)
    warn_horizon_s = stop_horizon_s + config.warn_margin_s
    if ttb is not None and ttb <= warn_horizon_s and closing:
        if guard.phase in (Phase.CLEAR, Phase.BREACHED):
            new = GuardState(Phase.WARNED, guard.last_command_time_s, guard.stops,
                             guard.warnings + 1, guard.breaches)
            reason = f"{where}: breach in {ttb:.1f} s at this velocity"
            return new, decision(Action.WARN, None, reason, Phase.WARNED)
        return guard, decision(Action.NONE, None, "approaching", guard.phase)
    if guard.phase in (Phase.WARNED, Phase.STOPPED) or (
        guard.phase == Phase.BREACHED and check.inside
    ):
        new = GuardState(Phase.CLEAR, guard.last_command_time_s, guard.stops, guard.warnings,
                         guard.breaches)
        return new, decision(Action.NONE, None, "clear of the boundary", Phase.CLEAR)
    return guard, decision(Action.NONE, None, "clear", Phase.CLEAR)
