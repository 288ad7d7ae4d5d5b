"""Telemetry messages built from the simulated vehicle's state, with ArduPilot's field conventions.

``build_message(vehicle, msg_id)`` returns one pymavlink message (or ``None`` for a message the
simulator does not produce, or one ArduPilot would not send now: FENCE_STATUS while the fence is
disabled, HOME_POSITION / GPS_GLOBAL_ORIGIN before the EKF origin is set). Positions are the EKF's
view (truth plus GPS error); SIM_STATE carries the truth, as SITL's does. Before the GPS is detected
GLOBAL_POSITION_INT reports latitude/longitude 0, as the fixtures show.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.sim import streams as sid
from drone_agent.sim.gimbal import euler_to_quaternion

if TYPE_CHECKING:
    from drone_agent.sim.vehicle import Vehicle

BASE_MODE_DISARMED = 89  # CUSTOM_MODE | GUIDED | STABILIZE | MANUAL_INPUT, as ArduCopter sends
SENSORS = 0x0020FC2F  # gyro, accel, mag, baro, gps, rate/attitude/... control, motors, ahrs
GEOFENCE_BIT = mavlink.MAV_SYS_STATUS_GEOFENCE
FLIGHT_SW_VERSION = (4 << 24) | (8 << 16) | (0 << 8)  # 4.8.0 dev
EKF_FLAGS_NO_GPS = (mavlink.EKF_ATTITUDE | mavlink.EKF_VELOCITY_VERT | mavlink.EKF_POS_VERT_ABS
                    | mavlink.EKF_CONST_POS_MODE)
EKF_FLAGS_GPS = (mavlink.EKF_ATTITUDE | mavlink.EKF_VELOCITY_HORIZ | mavlink.EKF_VELOCITY_VERT
                 | mavlink.EKF_POS_HORIZ_REL | mavlink.EKF_POS_HORIZ_ABS | mavlink.EKF_POS_VERT_ABS
                 | mavlink.EKF_PRED_POS_HORIZ_REL | mavlink.EKF_PRED_POS_HORIZ_ABS)


def _e7(deg: float) -> int:
    return int(round(deg * 1e7))


def build_message(v: Vehicle, msg_id: int) -> mavlink.MAVLink_message | None:
    builder = _BUILDERS.get(msg_id)
    return builder(v) if builder is not None else None


def _heartbeat(v: Vehicle) -> mavlink.MAVLink_message:
    base = BASE_MODE_DISARMED | (mavlink.MAV_MODE_FLAG_SAFETY_ARMED if v.armed else 0)
    if not v.boot.ready(v.now_s):
        status = mavlink.MAV_STATE_BOOT
    else:
        status = mavlink.MAV_STATE_ACTIVE if v.armed else mavlink.MAV_STATE_STANDBY
    return mavlink.MAVLink_heartbeat_message(mavlink.MAV_TYPE_QUADROTOR,
                                             mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                             v.mode.mode, status, 3)


def _sys_status(v: Vehicle) -> mavlink.MAVLink_message:
    present = SENSORS | GEOFENCE_BIT
    enabled = SENSORS | (GEOFENCE_BIT if v.fence_enabled and v.params["FENCE_ACTION"] else 0)
    health = SENSORS | (0 if v.fence_state.breached else GEOFENCE_BIT)
    return mavlink.MAVLink_sys_status_message(present, enabled, health, 200, 12600, 1000, 100,
                                              0, 0, 0, 0, 0, 0, 0, 0, 0)


def _system_time(v: Vehicle) -> mavlink.MAVLink_message:
    return mavlink.MAVLink_system_time_message(int(time.time() * 1e6), v.time_boot_ms)


def _latlon(v: Vehicle) -> tuple[float, float]:
    n, e = v.reported_ne()
    return v.origin.to_geo(n, e)


def _gps_raw_int(v: Vehicle) -> mavlink.MAVLink_message:
    if not v.boot.gps_fix(v.now_s):
        return mavlink.MAVLink_gps_raw_int_message(v.time_boot_ms * 1000, 0, 0, 0, 0, 65535,
                                                   65535, 0, 65535, 0)
    lat, lon = _latlon(v)
    b = v.body
    cog = int(math.degrees(math.atan2(b.ve_mps, b.vn_mps)) % 360 * 100) if b.ground_speed_mps > 0.2 else 0
    alt_mm = int((v.origin.alt_amsl_m + b.up_m) * 1000)
    return mavlink.MAVLink_gps_raw_int_message(
        v.time_boot_ms * 1000, mavlink.GPS_FIX_TYPE_3D_FIX, _e7(lat), _e7(lon), alt_mm, 121, 200,
        int(b.ground_speed_mps * 100), cog, int(v.params["SIM_GPS1_NUMSATS"]), alt_mm, 300, 500,
        150, 0, 0)


def _attitude(v: Vehicle) -> mavlink.MAVLink_message:
    roll, pitch, yaw = v.attitude()
    yaw = yaw if yaw <= math.pi else yaw - 2 * math.pi
    return mavlink.MAVLink_attitude_message(v.time_boot_ms, roll, pitch, yaw, 0.0, 0.0, 0.0)


def _local_position_ned(v: Vehicle) -> mavlink.MAVLink_message | None:
    if not v.position_known():
        return None
    n, e = v.reported_ne()
    b = v.body
    return mavlink.MAVLink_local_position_ned_message(v.time_boot_ms, n, e, -b.up_m, b.vn_mps,
                                                      b.ve_mps, -b.vu_mps)


def _global_position_int(v: Vehicle) -> mavlink.MAVLink_message:
    b = v.body
    lat, lon = _latlon(v) if v.boot.gps_fix(v.now_s) else (0.0, 0.0)
    alt_amsl = v.origin.alt_amsl_m + b.up_m
    rel = alt_amsl - v.home.alt_amsl_m
    return mavlink.MAVLink_global_position_int_message(
        v.time_boot_ms, _e7(lat), _e7(lon), int(alt_amsl * 1000), int(rel * 1000),
        int(b.vn_mps * 100), int(b.ve_mps * 100), int(-b.vu_mps * 100),
        int(b.yaw_deg % 360 * 100))


def _vfr_hud(v: Vehicle) -> mavlink.MAVLink_message:
    b = v.body
    throttle = 0 if not v.armed else (0 if b.on_ground else 38)
    return mavlink.MAVLink_vfr_hud_message(b.ground_speed_mps, b.ground_speed_mps,
                                           int(b.yaw_deg % 360), throttle,
                                           v.origin.alt_amsl_m + b.up_m, b.vu_mps)


def _sim_state(v: Vehicle) -> mavlink.MAVLink_message:
    b = v.body
    roll, pitch, yaw = v.attitude()
    q = euler_to_quaternion(roll, pitch, yaw)
    lat, lon = v.origin.to_geo(b.north_m, b.east_m)
    return mavlink.MAVLink_sim_state_message(
        q[0], q[1], q[2], q[3], roll, pitch, yaw if yaw <= math.pi else yaw - 2 * math.pi,
        b.an_mps2, b.ae_mps2, -9.80665 - b.au_mps2, 0.0, 0.0, 0.0, lat, lon,
        v.origin.alt_amsl_m + b.up_m, 0.0, 0.0, b.vn_mps, b.ve_mps, -b.vu_mps, _e7(lat), _e7(lon))


def _terrain_report(v: Vehicle) -> mavlink.MAVLink_message | None:
    if not v.boot.gps_fix(v.now_s):
        return None
    lat, lon = _latlon(v)
    ground_amsl = v.terrain.height_amsl_m(v.body.north_m, v.body.east_m)
    above = v.origin.alt_amsl_m + v.body.up_m - ground_amsl
    return mavlink.MAVLink_terrain_report_message(_e7(lat), _e7(lon),
                                                  int(v.params["TERRAIN_SPACING"]),
                                                  ground_amsl, above, 0, 1)


def _fence_status(v: Vehicle) -> mavlink.MAVLink_message | None:
    if not v.fence_enabled:
        return None
    fs = v.fence_state
    mitigation = mavlink.FENCE_MITIGATE_VEL_LIMIT if v.avoid_limited else mavlink.FENCE_MITIGATE_NONE
    return mavlink.MAVLink_fence_status_message(1 if fs.breached else 0, fs.breach_count,
                                                fs.breach_type, fs.breach_time_ms, mitigation)


def _ekf_status_report(v: Vehicle) -> mavlink.MAVLink_message:
    if v.boot.position_ok(v.now_s):
        flags = EKF_FLAGS_GPS
    elif v.boot.ekf_initialised(v.now_s):
        flags = EKF_FLAGS_NO_GPS
    else:
        flags = mavlink.EKF_UNINITIALIZED
    return mavlink.MAVLink_ekf_status_report_message(flags, 0.02, 0.01, 0.01, 0.02, 0.0, 0.0)


def _home_position(v: Vehicle) -> mavlink.MAVLink_message | None:
    if not v.position_known():
        return None
    h = v.home
    n, e = v.origin.to_ne(h.lat_deg, h.lon_deg)
    return mavlink.MAVLink_home_position_message(
        _e7(h.lat_deg), _e7(h.lon_deg), int(h.alt_amsl_m * 1000), n, e,
        -(h.alt_amsl_m - v.origin.alt_amsl_m), [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0,
        int(v.now_s * 1e6))


def _gps_global_origin(v: Vehicle) -> mavlink.MAVLink_message | None:
    if not v.position_known():
        return None
    o = v.origin
    return mavlink.MAVLink_gps_global_origin_message(_e7(o.lat_deg), _e7(o.lon_deg),
                                                     int(o.alt_amsl_m * 1000), int(v.now_s * 1e6))


def _gimbal_status(v: Vehicle) -> mavlink.MAVLink_message:
    flags, q, delta_yaw = v.gimbal.status_fields()
    nan = float("nan")
    return mavlink.MAVLink_gimbal_device_attitude_status_message(
        0, 0, v.time_boot_ms, flags, list(q), nan, nan, nan, 0,
        delta_yaw, nan, 1)


def _autopilot_version(v: Vehicle) -> mavlink.MAVLink_message:
    caps = (mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | mavlink.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
            | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
            | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
            | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
            | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE)
    return mavlink.MAVLink_autopilot_version_message(
        caps, FLIGHT_SW_VERSION, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, 0, [0] * 18)


_BUILDERS = {
    sid.HEARTBEAT: _heartbeat,
    sid.SYS_STATUS: _sys_status,
    sid.SYSTEM_TIME: _system_time,
    sid.GPS_RAW_INT: _gps_raw_int,
    sid.ATTITUDE: _attitude,
    sid.LOCAL_POSITION_NED: _local_position_ned,
    sid.GLOBAL_POSITION_INT: _global_position_int,
    sid.VFR_HUD: _vfr_hud,
    sid.SIM_STATE: _sim_state,
    sid.TERRAIN_REPORT: _terrain_report,
    sid.FENCE_STATUS: _fence_status,
    sid.EKF_STATUS_REPORT: _ekf_status_report,
    sid.HOME_POSITION: _home_position,
    mavlink.MAVLINK_MSG_ID_GPS_GLOBAL_ORIGIN: _gps_global_origin,
    sid.GIMBAL_DEVICE_ATTITUDE_STATUS: _gimbal_status,
    mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION: _autopilot_version,
}

