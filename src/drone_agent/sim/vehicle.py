"""The simulated ArduCopter as a sans-IO state machine: MAVLink messages in, MAVLink messages out.

Theory of operation
-------------------
:class:`Vehicle` is fed decoded pymavlink messages with the link they came from
(``handle(msg, link)``) and the vehicle clock (``advance(now_s)``); both return :data:`Outgoing`
pairs ``(link, message)`` where ``link`` is the link to answer on or ``None`` for every link
(STATUSTEXT, PARAM_VALUE after a set, FENCE_STATUS on a breach...). ``telemetry(link)`` returns
the streamed messages due on a link at the current vehicle time. The caller (``server``) owns sockets,
routing and wall-clock time; here the vehicle clock starts at 0 when the first client connects, as
SITL's does.

Inside, ``advance`` runs fixed 50 Hz physics steps (:mod:`.dynamics`) under the current mode's
demand (:mod:`.modes`), the 25 Hz fence check (:mod:`.fence`) with its FENCE_ACTION, the boot
timeline (:mod:`.boot`), the land detector and auto-disarm (DISARM_DELAY), the gimbal slew and the
wind/GPS-noise processes (seeded). Commands follow ArduCopter's COMMAND_ACK results as recorded in
the fixtures: arming before the EKF is ready → FAILED with "Arm: ..." STATUSTEXTs; NAV_TAKEOFF
disarmed → FAILED; DO_SET_MODE to an unknown mode → FAILED + "No such mode N"; unknown commands →
UNSUPPORTED; commands meant for a camera (VIDEO_START_CAPTURE...) → FAILED.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.sim import fence as fz
from drone_agent.sim import modes as md
from drone_agent.sim.boot import BootTimeline
from drone_agent.sim.dynamics import DT_S, Body, attitude_rad, step
from drone_agent.sim.geo import Origin
from drone_agent.sim.gimbal import YAW_LOCK_FLAG, Gimbal
from drone_agent.sim.mission import FenceTransfer
from drone_agent.sim.params import ParamStore
from drone_agent.sim.streams import LinkStreams
from drone_agent.sim.telemetry import build_message
from drone_agent.sim.terrain import Terrain

Outgoing = list[tuple[int | None, mavlink.MAVLink_message]]

SYSID = 1
COMPID = 1
FENCE_CHECK_S = 0.04  # Copter's 25 Hz asynchronous fence check
PREARM_REPORT_S = 30.0
YAW_RATE_DPS = 90.0
FORCE_ARM_MAGIC = 2989
FORCE_DISARM_MAGIC = 21196
CAMERA_COMMANDS = frozenset({2000, 2001, 2500, 2501, 203, 530, 531, 532})
# Fraction of the avoidance limit's rate of change fed forward to the velocity loop (fitted): real
# SITL (AVOID_ENABLE 3, 10 m/s at an inclusion edge) follows the 1 m/s² sqrt curve 0.5-0.7 m/s above
# it; 0.6 gives 0.35-0.9 m/s (1.0 would track the curve exactly, 0 would lag by 1.4 m/s).
AVOID_FF_GAIN = 0.6
SIM_DEFAULTS: Mapping[str, float] = {"MNT1_TYPE": 1.0}  # the simulated copter carries a gimbal


class Vehicle:
    """One simulated ArduCopter (system 1, component 1)."""

    def __init__(self, home: tuple[float, float, float], *, seed: int = 0,
                 params: Mapping[str, float] | None = None, fast_boot: bool = False) -> None:
        self.params = ParamStore({**SIM_DEFAULTS, **(params or {})})
        self.origin = Origin(*home)
        self.home = self.origin
        self.terrain = Terrain(home[2], seed)
        self.boot = BootTimeline.create(fast_boot)
        self.body = Body(up_m=0.0)
        self.mode = md.ModeState()
        self.fence_state = fz.FenceState()
        self.fence_enabled = bool(self.params["FENCE_ENABLE"])
        self.fence_zones = fz.Zones()
        self.fence_transfer = FenceTransfer(round(home[0] * 1e7), round(home[1] * 1e7), home[2])
        self.fence_link: int | None = None
        self.gimbal = Gimbal()
        self.armed = False
        self.landed_since_s = 0.0
        self.touchdown_s: float | None = None
        self.avoid_limited = False
        self._avoid_prev_ne: tuple[float, float] | None = None
        self.now_s = 0.0
        self._next_fence_s = 0.0
        self._last_prearm_s = 0.0
        self._rng = random.Random(seed)
        self._gps_err = [0.0, 0.0]
        self._gust = [0.0, 0.0]
        self.links: dict[int, LinkStreams] = {}
        self._sent_origin = False
        self._yaw_target: float | None = None

    # ------------------------------------------------------------------ helpers
    def add_link(self, link: int) -> None:
        self.links[link] = LinkStreams()

    def remove_link(self, link: int) -> None:
        self.links.pop(link, None)

    @property
    def time_boot_ms(self) -> int:
        return int(self.now_s * 1000)

    def ground_up_m(self, north_m: float | None = None, east_m: float | None = None) -> float:
        n = self.body.north_m if north_m is None else north_m
        e = self.body.east_m if east_m is None else east_m
        return self.terrain.height_amsl_m(n, e) - self.origin.alt_amsl_m

    def position_known(self) -> bool:
        return self.boot.origin_set(self.now_s)

    def fence_config(self) -> fz.FenceConfig:
        p = self.params
        return fz.FenceConfig(int(p["FENCE_TYPE"]), p["FENCE_ALT_MAX"], p["FENCE_ALT_MIN"],
                              p["FENCE_RADIUS"], p["FENCE_MARGIN"], int(p["FENCE_ACTION"]),
                              int(p["FENCE_OPTIONS"]))

    def fence_alt_cap(self) -> float | None:
        cfg = self.fence_config()
        return cfg.alt_max_m if self.fence_enabled and cfg.types & fz.TYPE_ALT_MAX else None

    def reported_ne(self) -> tuple[float, float]:
        """Position as the EKF reports it: truth plus the (seeded) GPS error."""
        return self.body.north_m + self._gps_err[0], self.body.east_m + self._gps_err[1]

    def wind_ne(self) -> tuple[float, float]:
        spd = self.params["SIM_WIND_SPD"]
        frm = math.radians(self.params["SIM_WIND_DIR"])
        return (-spd * math.cos(frm) + self._gust[0], -spd * math.sin(frm) + self._gust[1])

    @staticmethod
    def _text(severity: int, text: str) -> tuple[None, mavlink.MAVLink_message]:
        return None, mavlink.MAVLink_statustext_message(severity, text.encode()[:50], 0, 0)

    @staticmethod
    def _ack(link: int, msg: mavlink.MAVLink_message, command: int, result: int
             ) -> tuple[int, mavlink.MAVLink_message]:
        return link, mavlink.MAVLink_command_ack_message(
            command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent())

    # ------------------------------------------------------------------ clock
    def advance(self, now_s: float) -> Outgoing:
        """Run physics and timers up to vehicle time ``now_s``."""
        out: Outgoing = []
        while self.now_s + DT_S <= now_s + 1e-9:
            prev = self.now_s
            self.now_s = round(prev + DT_S, 6)
            out += [self._text(sev, text) for sev, text in
                    self.boot.messages_between(prev, self.now_s, self.origin.alt_amsl_m)]
            if self.boot.ready(self.now_s) and not self.boot.ready(prev):
                md.enter(self.mode, md.STABILIZE, self.body, self.params, self.now_s, None)
            if self.boot.origin_set(self.now_s) and not self._sent_origin:
                self._sent_origin = True
                out.append((None, build_message(self, mavlink.MAVLINK_MSG_ID_GPS_GLOBAL_ORIGIN)))
                out.append((None, build_message(self, mavlink.MAVLINK_MSG_ID_HOME_POSITION)))
            out += self._physics_step()
            if self.now_s >= self._next_fence_s:
                self._next_fence_s = self.now_s + FENCE_CHECK_S
                out += self._fence_check()
            out += self._prearm_report()
            for reply in self.fence_transfer.poll(self.now_s):
                out.append((self.fence_link, reply))
        return out

    def _noise_step(self) -> None:
        noise = self.params["SIM_GPS1_NOISE"]
        decay = math.exp(-DT_S / 5.0)
        kick = noise * math.sqrt(1.0 - decay * decay)
        for i in range(2):
            self._gps_err[i] = self._gps_err[i] * decay + (self._rng.gauss(0.0, kick) if noise else 0.0)
        turb = self.params["SIM_WIND_TURB"]
        gust_decay = math.exp(-DT_S / 2.0)
        gust_kick = turb * math.sqrt(1.0 - gust_decay * gust_decay)
        for i in range(2):
            self._gust[i] = self._gust[i] * gust_decay + (self._rng.gauss(0.0, gust_kick) if turb else 0.0)

    def _physics_step(self) -> Outgoing:
        out: Outgoing = []
        self._noise_step()
        body = self.body
        ground = self.ground_up_m()
        if self.armed:
            demand = md.demand_for(self.mode, body, self.params, self.now_s, ground)
            demand = self._avoid(demand)
        else:
            demand = md.Demand(md.horizontal_limits(self.params), md.vertical_limits(self.params),
                               motors_on=False)
        was_on_ground = body.on_ground
        step(body, demand, DT_S, self.wind_ne(), ground)
        self._yaw_step()
        self.gimbal.update(DT_S, body.yaw_deg)
        if body.on_ground and not was_on_ground:
            self.touchdown_s = self.now_s
            out.append(self._text(6, f"SIM Hit ground at {body.touchdown_speed_mps:.6f} m/s"))
        if not body.on_ground:
            self.landed_since_s = self.now_s
            self.touchdown_s = None
        if self.armed and body.on_ground:
            landing = self.mode.mode in (md.LAND, md.RTL) and self.touchdown_s is not None
            if landing and self.now_s - self.touchdown_s >= md.LAND_DISARM_S:
                out += self._disarm()
            elif (not landing and self.mode.takeoff_up_m is None
                  and self.now_s - self.landed_since_s >= self.params["DISARM_DELAY"] > 0):
                out += self._disarm()
        return out

    def _yaw_step(self) -> None:
        target = self._yaw_target
        if target is None or self.body.on_ground:
            return
        err = (target - self.body.yaw_deg + 180.0) % 360.0 - 180.0
        stepmax = YAW_RATE_DPS * DT_S
        self.body.yaw_deg = (self.body.yaw_deg + max(-stepmax, min(stepmax, err))) % 360.0

    def _avoid(self, demand: md.Demand) -> md.Demand:
        """AVOID_ENABLE bit 0 (UseFence): slide along the fence in GUIDED and LOITER.

        As ModeGuided calls AC_Avoid::adjust_velocity with the position controller's P gains and
        accelerations (WP_ACC / WP_ACC_Z; AC_Avoid caps them at 1 m/s², see
        :func:`~.fence.limit_velocity`). While the limit holds, part of its rate of change
        (``AVOID_FF_GAIN``) is fed forward to the velocity loop, as AC_PosControl tracks its shaped
        velocity target: the vehicle follows the sqrt-controller curve slightly above it, as real
        SITL does, and comes to rest within ~2 m past the FENCE_MARGIN line.
        """
        self.avoid_limited = False
        prev, self._avoid_prev_ne = self._avoid_prev_ne, None
        if not (self.fence_enabled and int(self.params["AVOID_ENABLE"]) & 1):
            return demand
        if self.mode.mode not in (md.GUIDED, md.LOITER) or demand.vel_ne_mps is None:
            return demand
        cfg = self.fence_config()
        accel = self.params["WP_ACC"]
        vel_ne, vel_up, limited = fz.limit_velocity(
            self.body.north_m, self.body.east_m, self.body.up_m, demand.vel_ne_mps,
            demand.vel_up_mps if demand.vel_up_mps is not None else 0.0, cfg, self.fence_zones,
            accel, self.params["WP_ACC_Z"],
            pos_p=self.params["PSC_NE_POS_P"], pos_p_z=self.params["PSC_D_POS_P"])
        self.avoid_limited = limited
        if not limited:
            return demand
        self._avoid_prev_ne = vel_ne
        ff = (0.0, 0.0)
        if prev is not None:
            ff_n, ff_e = (vel_ne[0] - prev[0]) / DT_S, (vel_ne[1] - prev[1]) / DT_S
            mag = math.hypot(ff_n, ff_e)
            cap = min(accel, fz.AVOID_ACCEL_MAX_MPS2)
            if mag > cap:  # a new target (a step), not the smooth deceleration curve
                ff_n, ff_e = ff_n * cap / mag, ff_e * cap / mag
            ff = (ff_n * AVOID_FF_GAIN, ff_e * AVOID_FF_GAIN)
        return md.Demand(demand.horiz_limits, demand.vert_limits, vel_ne_mps=vel_ne,
                         vel_up_mps=vel_up if demand.vel_up_mps is not None else None,
                         pos_up_m=demand.pos_up_m if demand.vel_up_mps is None else None,
                         accel_ff_ne_mps2=ff)

    # ------------------------------------------------------------------ fence
    def _fence_check(self) -> Outgoing:
        if not self.fence_enabled or not self.position_known():
            return []
        cfg = self.fence_config()
        n, e = self.reported_ne()
        was = self.fence_state.breached
        new = self.fence_state.check(cfg, self.fence_zones, n, e, self.body.up_m, self.now_s,
                                     self.time_boot_ms)
        out: Outgoing = []
        if was and not self.fence_state.breached:
            out.append(self._text(6, "Fence breach cleared"))
        if not new:
            return out
        names = fz.fence_names(new)
        plural = "fences" if " and " in names or "," in names else "fence"
        out.append(self._text(5, f"{names} {plural} breached"))
        out.append((None, build_message(self, mavlink.MAVLINK_MSG_ID_FENCE_STATUS)))
        if not self.armed or cfg.action == 0 or self.fence_state.in_recovery(self.now_s):
            return out
        if self.body.on_ground:
            return out + self._disarm()
        out += self._fence_action(cfg, new)
        return out

    def _fence_action(self, cfg: fz.FenceConfig, new: int) -> Outgoing:
        distance = 0.0
        if new & fz.TYPE_ALT_MAX:
            distance = max(distance, self.body.up_m - cfg.alt_max_m)
        if new & fz.TYPE_CIRCLE:
            distance = max(distance, math.hypot(self.body.north_m, self.body.east_m) - cfg.radius_m)
        if distance > fz.GIVE_UP_DISTANCE_M or cfg.action == 2:
            target = md.LAND
        elif cfg.action == 4:
            target = md.BRAKE
        elif cfg.action == 5:
            target = md.LAND
        else:
            target = md.RTL
        out: Outgoing = []
        if self.mode.mode != target and not (target == md.RTL and self.mode.mode == md.LAND):
            self._set_mode(target)
            out.append(self._text(6, "Manual recovery started"))
            self.fence_state.start_recovery(self.now_s)
        return out

    def fence_prearm_failure(self) -> str | None:
        if not self.fence_enabled:
            return None
        cfg = self.fence_config()
        if cfg.types == 0:
            return "Fences enabled, but none selected"
        if cfg.types & (fz.TYPE_CIRCLE | fz.TYPE_POLYGON) and not self.position_known():
            return "Fence requires position"
        if cfg.types & fz.TYPE_CIRCLE and cfg.radius_m < cfg.margin_m:
            return "Circle FENCE_MARGIN is greater than FENCE_RADIUS"
        if self.fence_state.breached:
            return f"Vehicle breaching {fz.fence_names(self.fence_state.breached)}"
        if cfg.alt_max_m < cfg.alt_min_m:
            return "FENCE_ALT_MAX < FENCE_ALT_MIN"
        if cfg.alt_max_m - cfg.alt_min_m <= 2 * cfg.margin_m:
            return "FENCE_MARGIN too big"
        return None

    # ------------------------------------------------------------------ arming
    def arming_failures(self) -> list[str]:
        fence_needs_position = self.fence_enabled and bool(
            self.fence_config().types & (fz.TYPE_CIRCLE | fz.TYPE_POLYGON))
        failures = self.boot.prearm_failures(self.now_s, fence_needs_position)
        if failures:
            return failures
        if self.mode.mode not in md.ARMABLE_MODES:
            return ["Mode not armable"]
        fence_problem = self.fence_prearm_failure()
        return [fence_problem] if fence_problem else []

    def _prearm_report(self) -> Outgoing:
        if self.armed or not self.boot.ready(self.now_s):
            return []
        if self.now_s - self._last_prearm_s < PREARM_REPORT_S:
            return []
        self._last_prearm_s = self.now_s
        failures = self.arming_failures()
        return [self._text(2, f"PreArm: {failures[0]}")] if failures else []

    def _arm(self) -> Outgoing:
        self.armed = True
        self.home = Origin(*self.origin.to_geo(self.body.north_m, self.body.east_m),
                           self.origin.alt_amsl_m + self.body.up_m)
        self.landed_since_s = self.now_s
        self.mode.hold_ne = (self.body.north_m, self.body.east_m)
        self.mode.hold_up_m = self.body.up_m
        self.fence_state.reset()
        return [self._text(6, "Arming motors"),
                (None, build_message(self, mavlink.MAVLINK_MSG_ID_HOME_POSITION))]

    def _disarm(self) -> Outgoing:
        self.armed = False
        self.mode.takeoff_up_m = None
        self.mode.vel_ne = self.mode.vel_up = None
        return [self._text(6, "Disarming motors")]

    # ------------------------------------------------------------------ modes
    def _set_mode(self, mode: int) -> None:
        md.enter(self.mode, mode, self.body, self.params, self.now_s, self.fence_alt_cap())
        if self.fence_state.breached:
            self.fence_state.start_recovery(self.now_s)

    def request_mode(self, mode: int) -> tuple[bool, str | None]:
        """ArduCopter's set_mode: (accepted, STATUSTEXT to send)."""
        if mode not in md.MODE_NAMES:
            return False, f"No such mode {mode}"
        if self.armed:
            if mode in md.POSITION_MODES and not self.boot.position_ok(self.now_s):
                return False, f"Mode change to {md.MODE_NAMES[mode]} failed: requires position"
            if mode == md.AUTO:
                return False, "Mode change to AUTO failed: init failed"
        if mode != self.mode.mode:
            self._set_mode(mode)
        return True, None

    # ------------------------------------------------------------------ inbound
    def handle(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        """Process one message addressed to the vehicle (or broadcast) that arrived on ``link``.

        It takes effect at the vehicle's current time (the last ``advance``).
        """
        kind = msg.get_type()
        handler = getattr(self, f"_on_{kind.lower()}", None)
        if handler is not None:
            return handler(msg, link)
        if (kind in ("MISSION_ITEM", "MISSION_ITEM_INT") and msg.current == 2
                and msg.mission_type == mavlink.MAV_MISSION_TYPE_MISSION):
            return self._guided_waypoint(msg, link)
        if kind.startswith("MISSION_"):
            replies, texts, accepted = self.fence_transfer.handle(msg, self.now_s)
            if kind == "MISSION_COUNT":
                self.fence_link = link
            if accepted is not None:
                self.fence_zones = fz.zones_from_items(accepted, self.origin)
                self.params.set("FENCE_TOTAL", _legacy_total(accepted))
            return [(link, r) for r in replies] + [self._text(s, t) for s, t in texts]
        return []

    def _on_command_long(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        p = (msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7)
        return self._command(msg, link, msg.command, p, frame=None)

    def _on_command_int(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        p = (msg.param1, msg.param2, msg.param3, msg.param4, msg.x, msg.y, msg.z)
        return self._command(msg, link, msg.command, p, frame=msg.frame)

    def _command(self, msg: mavlink.MAVLink_message, link: int, cmd: int,
                 p: tuple[float, ...], frame: int | None) -> Outgoing:
        M = mavlink
        out: Outgoing = []
        if cmd == M.MAV_CMD_COMPONENT_ARM_DISARM:
            if p[0] >= 0.5:
                if self.armed:
                    return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)]
                failures = [] if round(p[1]) == FORCE_ARM_MAGIC else self.arming_failures()
                if failures:
                    return [self._ack(link, msg, cmd, M.MAV_RESULT_FAILED)] + [
                        self._text(2, f"Arm: {f}") for f in failures]
                out = self._arm()
                return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)] + out
            if not self.armed:
                return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)]
            if not self.body.on_ground and round(p[1]) != FORCE_DISARM_MAGIC:
                return [self._ack(link, msg, cmd, M.MAV_RESULT_FAILED)]
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)] + self._disarm()
        if cmd == M.MAV_CMD_NAV_TAKEOFF:
            if (not self.armed or self.mode.mode != md.GUIDED or not self.body.on_ground
                    or self.mode.takeoff_up_m is not None):
                return [self._ack(link, msg, cmd, M.MAV_RESULT_FAILED)]
            self.mode.takeoff_up_m = self.body.up_m + max(p[6], 1.0)
            self.mode.takeoff_start_s = self.now_s
            self.mode.hold_ne = (self.body.north_m, self.body.east_m)
            self.mode.vel_ne = self.mode.vel_up = None
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)]
        if cmd == M.MAV_CMD_DO_SET_MODE:
            ok, text = self.request_mode(round(p[1]))
            out = [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED if ok else M.MAV_RESULT_FAILED)]
            return out + ([self._text(4, text)] if text else [])
        if cmd == M.MAV_CMD_NAV_LAND:
            ok, _ = self.request_mode(md.LAND)
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED if ok else M.MAV_RESULT_FAILED)]
        if cmd == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            ok, _ = self.request_mode(md.RTL)
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED if ok else M.MAV_RESULT_FAILED)]
        if cmd == M.MAV_CMD_DO_REPOSITION:
            if not self.armed or self.body.on_ground:
                return [self._ack(link, msg, cmd, M.MAV_RESULT_FAILED)]
            if self.mode.mode != md.GUIDED:
                self._set_mode(md.GUIDED)
            lat, lon = (p[4] * 1e-7, p[5] * 1e-7) if frame is not None else (p[4], p[5])
            if p[0] > 0:
                self.mode.guided_speed_mps = p[0]
            n, e = self.origin.to_ne(lat, lon)
            ok = self._set_guided_position(n, e, self._target_up(frame, p[6], n, e))
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED if ok else M.MAV_RESULT_FAILED)]
        if cmd == M.MAV_CMD_DO_CHANGE_SPEED:
            if p[1] > 0:
                self.mode.guided_speed_mps = p[1]
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)]
        if cmd == M.MAV_CMD_CONDITION_YAW:
            base = self.body.yaw_deg if p[3] else 0.0
            sign = -1.0 if p[2] < 0 else 1.0
            self._yaw_target = (base + sign * p[0]) % 360.0 if p[3] else p[0] % 360.0
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)]
        if cmd == M.MAV_CMD_DO_FENCE_ENABLE:
            return [self._ack(link, msg, cmd, self._fence_enable(round(p[0]), round(p[1])))]
        if cmd == M.MAV_CMD_SET_MESSAGE_INTERVAL:
            streams = self.links.get(link)
            ok = streams is not None and streams.set_interval(round(p[0]), p[1], self.now_s)
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED if ok else M.MAV_RESULT_FAILED)]
        if cmd == M.MAV_CMD_REQUEST_MESSAGE:
            reply = build_message(self, round(p[0]))
            if reply is None:
                return [self._ack(link, msg, cmd, M.MAV_RESULT_FAILED)]
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED), (link, reply)]
        if cmd == M.MAV_CMD_DO_MOUNT_CONTROL:
            self.gimbal.point(p[0], p[2], yaw_earth_frame=False)
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)]
        if cmd == M.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW:
            if math.isnan(p[0]) or math.isnan(p[1]):
                return [self._ack(link, msg, cmd, M.MAV_RESULT_DENIED)]
            self.gimbal.point(p[0], p[1], yaw_earth_frame=bool(round(p[4]) & YAW_LOCK_FLAG))
            return [self._ack(link, msg, cmd, M.MAV_RESULT_ACCEPTED)]
        if cmd in CAMERA_COMMANDS:
            return [self._ack(link, msg, cmd, M.MAV_RESULT_FAILED)]
        return [self._ack(link, msg, cmd, M.MAV_RESULT_UNSUPPORTED)]

    def _fence_enable(self, action: int, types: int) -> int:
        M = mavlink
        configured = int(self.params["FENCE_TYPE"])
        if types and types & ~configured:
            return M.MAV_RESULT_FAILED
        if action == 0:
            self.fence_enabled = False
            self.fence_state.reset()
        elif action == 1:
            self.fence_enabled = True
        elif action != 2:
            return M.MAV_RESULT_FAILED
        return M.MAV_RESULT_ACCEPTED

    def _on_set_mode(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        if msg.target_system not in (0, SYSID):
            return []
        ok, text = self.request_mode(msg.custom_mode)
        ack = self._ack(link, msg, mavlink.MAVLINK_MSG_ID_SET_MODE,
                        mavlink.MAV_RESULT_ACCEPTED if ok else mavlink.MAV_RESULT_FAILED)
        return [ack] + ([self._text(4, text)] if text else [])

    def _guided_waypoint(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        """GCS_MAVLINK::handle_mission_item with current 2 (a "guided mode waypoint", what
        DroneKit's simple_goto sends): ModeAuto::do_guided -> ModeGuided::set_destination in
        GUIDED, MAV_MISSION_ERROR otherwise or when the destination is refused."""
        if msg.get_type() == "MISSION_ITEM_INT":
            lat, lon = msg.x * 1e-7, msg.y * 1e-7
        else:
            lat, lon = msg.x, msg.y
        result = mavlink.MAV_MISSION_ERROR
        if self.mode.mode == md.GUIDED:  # do_guided checks the mode only, not arming
            n, e = self.origin.to_ne(lat, lon)
            if self._set_guided_position(n, e, self._target_up(msg.frame, msg.z, n, e)):
                result = mavlink.MAV_MISSION_ACCEPTED
        ack = mavlink.MAVLink_mission_ack_message(msg.get_srcSystem(), msg.get_srcComponent(), result,
                                                  mavlink.MAV_MISSION_TYPE_MISSION)
        return [(link, ack)]

    def _guided_target_ok(self) -> bool:
        return self.armed and self.mode.mode == md.GUIDED

    def _on_set_position_target_local_ned(self, msg: mavlink.MAVLink_message, link: int
                                          ) -> Outgoing:
        if not self._guided_target_ok():
            return []
        mask = msg.type_mask
        yaw = self.body.yaw_deg
        frame = msg.coordinate_frame
        body_frame = frame in (mavlink.MAV_FRAME_BODY_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED)
        c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))

        def rot(x: float, y: float) -> tuple[float, float]:
            return (x * c - y * s, x * s + y * c) if body_frame else (x, y)

        if not mask & 0b111:
            n, e = rot(msg.x, msg.y)
            up = -msg.z
            if frame in (mavlink.MAV_FRAME_LOCAL_OFFSET_NED, mavlink.MAV_FRAME_BODY_OFFSET_NED,
                         mavlink.MAV_FRAME_BODY_NED):
                n, e, up = n + self.body.north_m, e + self.body.east_m, up + self.body.up_m
            self._set_guided_position(n, e, up)
        elif not mask & 0b111000:
            vn, ve = rot(msg.vx, msg.vy)
            self._set_guided_velocity(vn, ve, -msg.vz)
        self._guided_yaw(mask, msg.yaw)
        return []

    def _on_set_position_target_global_int(self, msg: mavlink.MAVLink_message, link: int
                                           ) -> Outgoing:
        if not self._guided_target_ok():
            return []
        mask = msg.type_mask
        if not mask & 0b111:
            n, e = self.origin.to_ne(msg.lat_int * 1e-7, msg.lon_int * 1e-7)
            self._set_guided_position(n, e, self._target_up(msg.coordinate_frame, msg.alt, n, e))
        elif not mask & 0b111000:
            self._set_guided_velocity(msg.vx, msg.vy, -msg.vz)
        self._guided_yaw(mask, msg.yaw)
        return []

    def _target_up(self, frame: int | None, alt_m: float, n: float, e: float) -> float:
        """Height above the origin of an altitude given in a MAV_FRAME (None: relative to home)."""
        if frame in (mavlink.MAV_FRAME_GLOBAL_INT, mavlink.MAV_FRAME_GLOBAL):
            return alt_m - self.origin.alt_amsl_m
        if frame in (mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT, mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT):
            return alt_m + self.ground_up_m(n, e)
        return alt_m + (self.home.alt_amsl_m - self.origin.alt_amsl_m)

    def destination_within_fence(self, n: float, e: float) -> bool:
        """AC_Fence::check_destination_within_fence: polygon and circle fences, when enabled."""
        if not self.fence_enabled:
            return True
        cfg = self.fence_config()
        if cfg.types & fz.TYPE_POLYGON and fz.polygon_breached(n, e, self.fence_zones,
                                                               bool(cfg.options & 2)):
            return False
        return not (cfg.types & fz.TYPE_CIRCLE and math.hypot(n, e) > cfg.radius_m)

    def _set_guided_position(self, n: float, e: float, up: float) -> bool:
        """ModeGuided::set_destination: refused outside the fence; replaces an airborne take-off."""
        if not self.destination_within_fence(n, e):
            return False
        st = self.mode
        st.vel_ne = st.vel_up = None
        st.hold_ne = (n, e)
        st.hold_up_m = up
        if st.takeoff_up_m is not None and self.body.on_ground:
            st.takeoff_up_m = up  # deviation: ArduCopter would abort the take-off (see modes.py)
        else:
            st.takeoff_up_m = None
        return True

    def _set_guided_velocity(self, vn: float, ve: float, vu: float) -> None:
        """ModeGuided::set_velaccel: replaces a take-off in progress once airborne."""
        st = self.mode
        if st.takeoff_up_m is not None and self.body.on_ground:
            return  # deviation: ArduCopter would abort the take-off (see modes.py)
        st.takeoff_up_m = None
        st.vel_ne = (vn, ve)
        st.vel_up = vu
        st.vel_time_s = self.now_s
        st.hold_up_m = self.body.up_m

    def _guided_yaw(self, mask: int, yaw_rad: float) -> None:
        if not mask & 1024:
            self._yaw_target = math.degrees(yaw_rad) % 360.0

    def _on_param_request_list(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        return [(link, self._param_value(name)) for name in self.params]

    def _on_param_request_read(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        name = _param_name(msg.param_id)
        if msg.param_index >= 0:
            name = self.params.name_at(msg.param_index) or ""
        if name not in self.params:
            return []
        return [(link, self._param_value(name))]

    def _on_param_set(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        name = _param_name(msg.param_id)
        if self.params.set(name, msg.param_value) is None:
            return []
        if name == "FENCE_ENABLE":
            self.fence_enabled = bool(self.params[name])
            if not self.fence_enabled:
                self.fence_state.reset()
        return [(None, self._param_value(name))]

    def _param_value(self, name: str) -> mavlink.MAVLink_message:
        return mavlink.MAVLink_param_value_message(
            name.encode(), self.params[name], self.params.type_of(name), len(self.params),
            self.params.index(name))

    def _on_request_data_stream(self, msg: mavlink.MAVLink_message, link: int) -> Outgoing:
        streams = self.links.get(link)
        if streams is not None:
            streams.request_stream(msg.req_stream_id, msg.req_message_rate,
                                   bool(msg.start_stop), self.now_s)
        return []

    def _on_gimbal_manager_set_pitchyaw(self, msg: mavlink.MAVLink_message, link: int
                                        ) -> Outgoing:
        if not (math.isnan(msg.pitch) or math.isnan(msg.yaw)):
            self.gimbal.point(math.degrees(msg.pitch), math.degrees(msg.yaw),
                              yaw_earth_frame=bool(msg.flags & YAW_LOCK_FLAG))
        return []

    # ------------------------------------------------------------------ outbound
    def telemetry(self, link: int) -> list[mavlink.MAVLink_message]:
        streams = self.links.get(link)
        if streams is None:
            return []
        out = []
        for msg_id in streams.due(self.now_s):
            msg = build_message(self, msg_id)
            if msg is not None:
                out.append(msg)
        return out

    def attitude(self) -> tuple[float, float, float]:
        roll, pitch = attitude_rad(self.body)
        return roll, pitch, math.radians(self.body.yaw_deg)


def _param_name(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return raw.split("\x00", 1)[0]


def _legacy_total(items: tuple[fz.FenceItem, ...]) -> float:
    """FENCE_TOTAL as AC_PolyFence_loader::write_fence sets it (vertices + circles, + 2)."""
    total = sum(1 for i in items if i.command != fz.CMD_RETURN_POINT)
    return float(total + 2) if total >= 3 else 0.0
