"""ArduCopter flight modes the simulator flies, and the controller demand each one makes.

Theory of operation
-------------------
Each mode is a small state machine over the vehicle truth (:class:`~.dynamics.Body`), the
parameters and its own targets; :func:`demand_for` turns the current mode state into one
:class:`~.dynamics.Demand` per physics step, with the limits ArduCopter uses in that mode:

* GUIDED: a take-off target (WP_SPD_UP / WP_ACC_Z, after a spool-up delay), then a position target
  (WP_SPD, WP_ACC; SET_POSITION_TARGET_* / take-off / hold) or a velocity target that lapses to a
  stop after 3 s without a new one (ArduCopter's GUIDED velocity timeout). Horizontal velocity
  targets are capped at WP_SPD; vertical ones are not capped at WP_SPD_UP/DN (the SITL trace
  climbed at the 3 m/s asked for). In every mode the horizontal speed is also capped at the
  drag-limited top speed for ANGLE_MAX (10.0 m/s at the default 3000, as real SITL's quad). As in ModeGuided, a new target replaces a take-off in progress
  once the vehicle is airborne, and while it is landed only NAV_TAKEOFF makes it leave the ground.
  Known deviation: real ArduCopter also abandons a take-off for a target that arrives during the
  spool-up (the vehicle then stays on the ground); the simulator instead lets a position target
  become the take-off's destination and ignores velocity targets until lift-off.
* LOITER: holds the stopping point it entered at. ALT_HOLD and STABILIZE (no RC sticks in the
  simulator: a stick-neutral pilot) hold altitude and let the horizontal velocity die away.
* BRAKE: after a 0.2 s entry delay (fitted), decelerates at BRAKE_MODE_DECEL_RATE (7.5 m/s²) limit
  through the velocity loop (time constant fitted), holds altitude, then holds position.
* RTL: climbs to max(RTL_ALT_M, current) (capped at FENCE_ALT_MAX when the altitude fence is on),
  flies home at RTL_SPEED_MS or WP_SPD, waits RTL_LOIT_TIME, then lands like LAND.
* LAND: holds position and descends at LAND_SPD_HIGH_MS (or WP_SPD_DN), slowing with the sqrt
  controller to reach LAND_SPD_MS at LAND_ALT_LOW_M above the ground (ArduCopter's
  land_run_vertical_control); the vehicle disarms ``LAND_DISARM_S`` after touchdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drone_agent.sim.dynamics import (AxisLimits, Body, Demand, sqrt_controller,
                                      stopping_distance_m, top_speed_mps)
from drone_agent.sim.params import ParamStore

STABILIZE, ALT_HOLD, AUTO, GUIDED, LOITER, RTL, LAND, BRAKE = 0, 2, 3, 4, 5, 6, 9, 17
MODE_NAMES = {STABILIZE: "STABILIZE", ALT_HOLD: "ALT_HOLD", AUTO: "AUTO", GUIDED: "GUIDED",
              LOITER: "LOITER", RTL: "RTL", LAND: "LAND", BRAKE: "BRAKE"}
ARMABLE_MODES = frozenset({STABILIZE, ALT_HOLD, GUIDED, LOITER})
POSITION_MODES = frozenset({GUIDED, LOITER, RTL, BRAKE, AUTO})

HORIZ_TAU_S = 1.4  # velocity-loop time constant fitted to the SITL 10 m/s trace
BRAKE_TAU_S = 1.2  # fitted to the SITL BRAKE trace (19.4 m / 5.2 s from 10 m/s)
VERT_TAU_S = 0.5
BRAKE_DECEL_MPS2 = 7.5  # ArduCopter BRAKE_MODE_DECEL_RATE 750 cm/s/s
BRAKE_ENTRY_DELAY_S = 0.2  # fitted with BRAKE_TAU_S to the SITL BRAKE trace
TAKEOFF_SPOOL_S = 2.6  # arm -> leaving the ground in the SITL take-off trace
GUIDED_VEL_TIMEOUT_S = 3.0
LAND_DISARM_S = 2.0  # touchdown -> "Disarming motors" in the SITL traces
RTL_ARRIVED_M = 2.0


@dataclass(slots=True)
class ModeState:
    """Targets and stage of the current flight mode (mutable, owned by the vehicle)."""

    mode: int = STABILIZE
    hold_ne: tuple[float, float] | None = None
    hold_up_m: float | None = None
    vel_ne: tuple[float, float] | None = None
    vel_up: float | None = None
    vel_time_s: float = 0.0
    takeoff_up_m: float | None = None
    takeoff_start_s: float = 0.0
    guided_speed_mps: float | None = None
    rtl_stage: str = ""
    rtl_alt_m: float = 0.0
    stage_time_s: float = 0.0


def horizontal_limits(params: ParamStore, speed_mps: float | None = None) -> AxisLimits:
    """The mode's speed (WP_SPD or its own), never above the ANGLE_MAX top speed, and WP_ACC."""
    speed = min(speed_mps or params["WP_SPD"], top_speed_mps(params["ANGLE_MAX"]))
    return AxisLimits(speed, 0.0, params["WP_ACC"],
                      params["PSC_JERK_NE"], HORIZ_TAU_S, params["PSC_NE_POS_P"])


def vertical_limits(params: ParamStore, descent_mps: float | None = None) -> AxisLimits:
    return AxisLimits(params["WP_SPD_UP"], descent_mps or params["WP_SPD_DN"], params["WP_ACC_Z"],
                      params["PSC_JERK_D"], VERT_TAU_S, params["PSC_D_POS_P"])


def stopping_point(body: Body, params: ParamStore) -> tuple[float, float]:
    speed = body.ground_speed_mps
    if speed < 1e-3:
        return body.north_m, body.east_m
    d = stopping_distance_m(speed, params["PSC_NE_POS_P"], params["WP_ACC"])
    return body.north_m + body.vn_mps / speed * d, body.east_m + body.ve_mps / speed * d


def enter(state: ModeState, mode: int, body: Body, params: ParamStore, now_s: float,
          fence_alt_max_m: float | None) -> None:
    """Initialise ``state`` for ``mode`` (the caller has decided the change is allowed)."""
    state.mode = mode
    state.vel_ne = state.vel_up = None
    state.takeoff_up_m = None
    state.stage_time_s = now_s
    state.hold_up_m = body.up_m
    state.hold_ne = None if mode == BRAKE else stopping_point(body, params)
    if mode == RTL:
        target = max(params["RTL_ALT_M"], body.up_m)
        if fence_alt_max_m is not None:
            target = min(target, fence_alt_max_m)
        state.rtl_alt_m = target
        state.rtl_stage = "climb" if body.up_m < target - 0.5 else "return"
    if mode == LAND:
        state.hold_ne = (body.north_m, body.east_m)


def land_descent_mps(params: ParamStore, height_agl_m: float) -> float:
    """Mode::land_run_vertical_control: sqrt-approach LAND_ALT_LOW_M, never slower than LAND_SPD."""
    slow = abs(params["LAND_SPD_MS"])
    fast = max(params["LAND_SPD_HIGH_MS"] or params["WP_SPD_DN"], slow)
    approach = sqrt_controller(height_agl_m - max(params["LAND_ALT_LOW_M"], 1.0),
                               params["PSC_D_POS_P"], params["WP_ACC_Z"])
    return max(slow, min(fast, approach))


def demand_for(state: ModeState, body: Body, params: ParamStore, now_s: float,
               ground_up_m: float) -> Demand:
    """The controller demand of the current mode for this step (advances RTL stages)."""
    hl = horizontal_limits(params)
    vl = vertical_limits(params)
    mode = state.mode
    if mode == GUIDED:
        return _guided(state, body, params, now_s)
    if mode == LOITER:
        return Demand(hl, vl, pos_ne_m=state.hold_ne, pos_up_m=state.hold_up_m)
    if mode in (ALT_HOLD, STABILIZE, AUTO):
        return Demand(hl, vl, vel_ne_mps=(0.0, 0.0), pos_up_m=state.hold_up_m)
    if mode == BRAKE:
        brake = AxisLimits(hl.speed_up_mps, 0.0, BRAKE_DECEL_MPS2, hl.jerk_mps3, BRAKE_TAU_S,
                           hl.pos_p)
        if now_s - state.stage_time_s < BRAKE_ENTRY_DELAY_S:  # the airframe is still tilting back
            return Demand(brake, vl, vel_ne_mps=(body.vn_mps, body.ve_mps), pos_up_m=state.hold_up_m)
        if state.hold_ne is None and body.ground_speed_mps < 0.1:
            state.hold_ne = (body.north_m, body.east_m)
        if state.hold_ne is None:
            return Demand(brake, vl, vel_ne_mps=(0.0, 0.0), pos_up_m=state.hold_up_m)
        return Demand(brake, vl, pos_ne_m=state.hold_ne, pos_up_m=state.hold_up_m)
    if mode == LAND:
        descent = land_descent_mps(params, body.up_m - ground_up_m)
        return Demand(hl, vertical_limits(params, descent), pos_ne_m=state.hold_ne,
                      vel_up_mps=-descent)
    if mode == RTL:
        return _rtl(state, body, params, now_s, ground_up_m)
    return Demand(hl, vl, vel_ne_mps=(0.0, 0.0), pos_up_m=state.hold_up_m)


def _guided(state: ModeState, body: Body, params: ParamStore, now_s: float) -> Demand:
    hl = horizontal_limits(params, state.guided_speed_mps)
    vl = vertical_limits(params)
    if state.takeoff_up_m is not None:
        if now_s - state.takeoff_start_s < TAKEOFF_SPOOL_S:
            return Demand(hl, vl, pos_ne_m=state.hold_ne, vel_up_mps=0.0)
        if body.up_m >= state.takeoff_up_m - 0.1:
            state.hold_up_m = state.takeoff_up_m
            state.takeoff_up_m = None
        else:
            return Demand(hl, vl, pos_ne_m=state.hold_ne, pos_up_m=state.takeoff_up_m)
    if body.on_ground:  # ModeGuided: is_disarmed_or_landed() -> only a take-off leaves the ground
        return Demand(hl, vl, vel_ne_mps=(0.0, 0.0), vel_up_mps=0.0)
    if state.vel_ne is not None or state.vel_up is not None:
        if now_s - state.vel_time_s > GUIDED_VEL_TIMEOUT_S:
            state.vel_ne = (0.0, 0.0)
            state.vel_up = 0.0
        if state.vel_up is None:
            return Demand(hl, vl, vel_ne_mps=state.vel_ne, pos_up_m=state.hold_up_m)
        # GUIDED velocity targets are not capped at WP_SPD_UP/DN (SITL climbed at the asked 3 m/s)
        vl = AxisLimits(max(vl.speed_up_mps, state.vel_up), max(vl.speed_down_mps, -state.vel_up),
                        vl.accel_mps2, vl.jerk_mps3, vl.tau_s, vl.pos_p)
        return Demand(hl, vl, vel_ne_mps=state.vel_ne, vel_up_mps=state.vel_up)
    return Demand(hl, vl, pos_ne_m=state.hold_ne, pos_up_m=state.hold_up_m)


def _rtl(state: ModeState, body: Body, params: ParamStore, now_s: float,
         ground_up_m: float) -> Demand:
    speed = params["RTL_SPEED_MS"] or None
    hl = horizontal_limits(params, speed)
    vl = vertical_limits(params)
    if state.rtl_stage == "climb":
        if body.up_m >= state.rtl_alt_m - 0.5:
            state.rtl_stage = "return"
        return Demand(hl, vl, pos_ne_m=state.hold_ne, pos_up_m=state.rtl_alt_m)
    if state.rtl_stage == "return":
        dist = math.hypot(body.north_m, body.east_m)
        if dist < RTL_ARRIVED_M and body.ground_speed_mps < 0.5:
            state.rtl_stage = "loiter"
            state.stage_time_s = now_s
        return Demand(hl, vl, pos_ne_m=(0.0, 0.0), pos_up_m=state.rtl_alt_m)
    if state.rtl_stage == "loiter":
        if now_s - state.stage_time_s >= params["RTL_LOIT_TIME"] / 1000.0:
            state.rtl_stage = "land"
        return Demand(hl, vl, pos_ne_m=(0.0, 0.0), pos_up_m=state.rtl_alt_m)
    descent = land_descent_mps(params, body.up_m - ground_up_m)
    return Demand(hl, vertical_limits(params, descent), pos_ne_m=(0.0, 0.0), vel_up_mps=-descent)
