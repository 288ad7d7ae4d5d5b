"""Point-mass multicopter dynamics with ArduPilot-shaped position/velocity control.

Theory of operation
-------------------
The vehicle is a point in a local north/east/up frame around home. Every step (``DT_S`` of vehicle
time) a flight mode hands :func:`step` a :class:`Demand`: for each of the horizontal plane and the
vertical axis either a velocity target or a position target, plus the limits that mode uses (the
ArduPilot parameters WP_SPD, WP_ACC, WP_SPD_UP/DN, WP_ACC_Z, PSC_JERK_*; BRAKE's own 7.5 m/s²).

* A position target becomes a desired velocity with ArduPilot's *square-root controller*
  (``sqrt_controller``): proportional (gain ``pos_p``) close in, ``sqrt(2·a·d)`` further out, so the
  vehicle decelerates at the mode's acceleration and arrives without overshoot.
* The velocity error becomes an acceleration demand ``(v_des - v) / tau_s`` (a first-order velocity
  loop; ``tau_s`` reproduces the exponential tail seen in real SITL traces), limited in magnitude to
  the mode's acceleration and in rate of change to its jerk. The horizontal speed limit of every
  mode is also capped at the drag-limited top speed for ANGLE_MAX (:func:`top_speed_mps`: 10.0 m/s
  at the default 30°, as real SITL's default quad). A demand may add an acceleration
  feed-forward (``accel_ff_ne_mps2``) for a target that varies smoothly, as AC_PosControl's shaped
  trajectory does: the fence avoidance uses it so the vehicle follows its deceleration curve without
  the first-order lag. Vertically, when the demand reverses
  the current climb or descent, 2.5 x WP_ACC_Z is allowed (fitted to the SITL altitude-fence trace:
  a 3 m/s climb stopped within 2.3 m).
* Wind acts as a force proportional to the wind speed; an integrator (time constant
  ``WIND_TRIM_TAU_S``) learns and cancels the steady part, so gusts and wind changes show as
  transient drift that the controllers then remove, as on a real copter.

The constants ``tau_s`` and the take-off spool-up were fitted to the real ArduCopter SITL traces in
``shared/fixtures/ardupilot-sitl`` (see the README's fidelity table); everything else is the named
parameter. Pure functions on frozen/slotted dataclasses; no clocks, no IO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DT_S = 0.02  # physics step, vehicle seconds (50 Hz)
GRAVITY_MPS2 = 9.80665
WIND_DRAG_PER_S = 0.1  # wind force per unit wind speed (1/s)
WIND_TRIM_TAU_S = 3.0  # how fast the velocity loop's integrator learns a steady wind
VERT_REVERSAL_ACCEL_FACTOR = 2.5  # fitted: SITL stopped a 3 m/s climb within 2.3 m
# Drag-limited level top speed, fitted to real SITL's default quad: at ANGLE_MAX 30° it levels off
# at 10.0 m/s (pitch pinned at -30°); with ANGLE_MAX 60° it reached 15.4 m/s under a 15 m/s target.
# Quadratic drag (g·tan(lean) = k·v²) through the first point gives 17.3 m/s at 60°.
TOP_SPEED_REF_MPS = 10.0
TOP_SPEED_REF_ANGLE_DEG = 30.0
ANGLE_MAX_RANGE_DEG = (10.0, 80.0)  # ANGLE_MAX's documented range, 1000..8000 centidegrees


@dataclass(frozen=True, slots=True)
class AxisLimits:
    """Limits one controller applies (horizontal: vector magnitude; vertical: up/down)."""

    speed_up_mps: float  # horizontal: max speed; vertical: max climb rate
    speed_down_mps: float  # vertical: max descent rate (unused horizontally)
    accel_mps2: float
    jerk_mps3: float
    tau_s: float
    pos_p: float = 1.0


@dataclass(frozen=True, slots=True)
class Demand:
    """What a flight mode asks of the controllers for one step (None = hold velocity at zero)."""

    horiz_limits: AxisLimits
    vert_limits: AxisLimits
    vel_ne_mps: tuple[float, float] | None = None
    pos_ne_m: tuple[float, float] | None = None
    vel_up_mps: float | None = None
    pos_up_m: float | None = None
    motors_on: bool = True
    accel_ff_ne_mps2: tuple[float, float] = (0.0, 0.0)  # feed-forward of a smoothly varying target


@dataclass(slots=True)
class Body:
    """Truth state of the airframe (mutable, advanced in place by :func:`step`)."""

    north_m: float = 0.0
    east_m: float = 0.0
    up_m: float = 0.0  # above home
    vn_mps: float = 0.0
    ve_mps: float = 0.0
    vu_mps: float = 0.0
    an_mps2: float = 0.0
    ae_mps2: float = 0.0
    au_mps2: float = 0.0
    yaw_deg: float = 0.0
    on_ground: bool = True
    touchdown_speed_mps: float = 0.0
    wind_trim_n_mps2: float = 0.0  # the velocity loop's integrator: learned wind force
    wind_trim_e_mps2: float = 0.0

    @property
    def ground_speed_mps(self) -> float:
        return math.hypot(self.vn_mps, self.ve_mps)


def sqrt_controller(error: float, p: float, accel: float) -> float:
    """ArduPilot's AC_AttitudeControl::sqrt_controller (second-order limited P controller)."""
    if accel <= 0.0:
        return error * p
    if p <= 0.0:
        return math.copysign(math.sqrt(2.0 * accel * abs(error)), error)
    linear_dist = accel / (p * p)
    if abs(error) > linear_dist:
        return math.copysign(math.sqrt(2.0 * accel * (abs(error) - linear_dist / 2.0)), error)
    return error * p


def stopping_distance_m(speed_mps: float, p: float, accel: float) -> float:
    """Distance the sqrt controller needs to stop from ``speed_mps`` (inverse of the above)."""
    if accel <= 0.0 or p <= 0.0:
        return speed_mps / p if p > 0 else 0.0
    linear_speed = accel / p
    if speed_mps <= linear_speed:
        return speed_mps / p
    return accel / (2.0 * p * p) + speed_mps * speed_mps / (2.0 * accel)


def top_speed_mps(angle_max_cdeg: float) -> float:
    """Level-flight top speed for the lean limit ANGLE_MAX (centidegrees): drag = g·tan(lean)."""
    lo, hi = ANGLE_MAX_RANGE_DEG
    lean = math.radians(max(lo, min(hi, angle_max_cdeg / 100.0)))
    ratio = math.tan(lean) / math.tan(math.radians(TOP_SPEED_REF_ANGLE_DEG))
    return TOP_SPEED_REF_MPS * math.sqrt(ratio)


def _limit_rate(current: float, wanted: float, max_step: float) -> float:
    return current + max(-max_step, min(max_step, wanted - current))


def step(body: Body, demand: Demand, dt_s: float, wind_ne_mps: tuple[float, float],
         ground_up_m: float) -> None:
    """Advance ``body`` by ``dt_s`` under ``demand``; ``ground_up_m`` is the terrain under it."""
    if not demand.motors_on:
        if not body.on_ground:  # unpowered: fall (a disarm in the air is a crash)
            body.vu_mps -= GRAVITY_MPS2 * dt_s
            body.up_m += body.vu_mps * dt_s
            _ground_contact(body, ground_up_m)
        return
    hl, vl = demand.horiz_limits, demand.vert_limits
    # horizontal desired velocity
    if demand.pos_ne_m is not None:
        dn = demand.pos_ne_m[0] - body.north_m
        de = demand.pos_ne_m[1] - body.east_m
        dist = math.hypot(dn, de)
        speed = min(hl.speed_up_mps, sqrt_controller(dist, hl.pos_p, hl.accel_mps2))
        vn_des, ve_des = ((dn / dist * speed, de / dist * speed) if dist > 1e-6 else (0.0, 0.0))
    elif demand.vel_ne_mps is not None:
        vn_des, ve_des = demand.vel_ne_mps
        mag = math.hypot(vn_des, ve_des)
        if mag > hl.speed_up_mps > 0:
            vn_des, ve_des = vn_des * hl.speed_up_mps / mag, ve_des * hl.speed_up_mps / mag
    else:
        vn_des = ve_des = 0.0
    # vertical desired velocity
    if demand.pos_up_m is not None:
        vu_des = sqrt_controller(demand.pos_up_m - body.up_m, vl.pos_p, vl.accel_mps2)
    elif demand.vel_up_mps is not None:
        vu_des = demand.vel_up_mps
    else:
        vu_des = 0.0
    vu_des = max(-vl.speed_down_mps, min(vl.speed_up_mps, vu_des))
    if body.on_ground and vu_des <= 0.0:
        body.vn_mps = body.ve_mps = body.vu_mps = 0.0
        body.an_mps2 = body.ae_mps2 = body.au_mps2 = 0.0
        return
    # velocity loop -> acceleration, magnitude- and jerk-limited
    an = (vn_des - body.vn_mps) / hl.tau_s + demand.accel_ff_ne_mps2[0]
    ae = (ve_des - body.ve_mps) / hl.tau_s + demand.accel_ff_ne_mps2[1]
    amag = math.hypot(an, ae)
    if amag > hl.accel_mps2:
        an, ae = an * hl.accel_mps2 / amag, ae * hl.accel_mps2 / amag
    jstep = hl.jerk_mps3 * dt_s
    body.an_mps2 = _limit_rate(body.an_mps2, an, jstep)
    body.ae_mps2 = _limit_rate(body.ae_mps2, ae, jstep)
    accel_z = vl.accel_mps2 * (VERT_REVERSAL_ACCEL_FACTOR if vu_des * body.vu_mps < 0 else 1.0)
    au = max(-accel_z, min(accel_z, (vu_des - body.vu_mps) / vl.tau_s))
    body.au_mps2 = _limit_rate(body.au_mps2, au, vl.jerk_mps3 * dt_s)
    # wind: the extra drag of the moving air mass (still-air drag is part of the trimmed hover)
    wn = WIND_DRAG_PER_S * wind_ne_mps[0]
    we = WIND_DRAG_PER_S * wind_ne_mps[1]
    trim = min(1.0, dt_s / WIND_TRIM_TAU_S)
    body.wind_trim_n_mps2 += (wn - body.wind_trim_n_mps2) * trim
    body.wind_trim_e_mps2 += (we - body.wind_trim_e_mps2) * trim
    wn -= body.wind_trim_n_mps2
    we -= body.wind_trim_e_mps2
    body.vn_mps += (body.an_mps2 + wn) * dt_s
    body.ve_mps += (body.ae_mps2 + we) * dt_s
    body.vu_mps += body.au_mps2 * dt_s
    body.north_m += body.vn_mps * dt_s
    body.east_m += body.ve_mps * dt_s
    body.up_m += body.vu_mps * dt_s
    if body.up_m > ground_up_m + 0.05:
        body.on_ground = False
    _ground_contact(body, ground_up_m)


def _ground_contact(body: Body, ground_up_m: float) -> None:
    if body.up_m <= ground_up_m and not body.on_ground:
        body.touchdown_speed_mps = -body.vu_mps
        body.up_m = ground_up_m
        body.vn_mps = body.ve_mps = body.vu_mps = 0.0
        body.an_mps2 = body.ae_mps2 = body.au_mps2 = 0.0
        body.on_ground = True
    elif body.on_ground and body.up_m < ground_up_m:
        body.up_m = ground_up_m


def attitude_rad(body: Body) -> tuple[float, float]:
    """(roll, pitch) a copter needs for the current horizontal acceleration, body frame."""
    yaw = math.radians(body.yaw_deg)
    a_fwd = body.an_mps2 * math.cos(yaw) + body.ae_mps2 * math.sin(yaw)
    a_right = -body.an_mps2 * math.sin(yaw) + body.ae_mps2 * math.cos(yaw)
    pitch = -math.atan2(a_fwd, GRAVITY_MPS2)
    roll = math.atan2(a_right, GRAVITY_MPS2)
    return roll, pitch
