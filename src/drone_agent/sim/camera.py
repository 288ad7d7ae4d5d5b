"""A synthetic geo-referenced camera on the simulated gimbal, and a frame source fed over MAVLink.

Theory of operation
-------------------
:class:`SyntheticCamera` is a pinhole camera (``CameraSpec``: resolution, horizontal field of view,
frame rate) looking at the procedurally generated ground image of :mod:`.ground`, georeferenced
around ``home``. For a :class:`CameraPose` (position north/east of home and altitude AMSL, camera
heading and earth-frame pitch; the gimbal keeps roll level) it casts one ray per pixel centre, rotates
it camera → body (forward, right, down) → pitch → heading into north/east/down, intersects it with
the ground plane at the terrain height under the centre of the view (the synthetic terrain is gentle,
so one plane per frame is a good approximation), and samples the ground image there (bilinear, with
wrap-around). Rays at or above the horizon see sky.

Ground-truth mode: every pixel whose ray hits the ground inside one of the given privacy polygons
(lon/lat rings, read from GeoJSON with :func:`load_privacy_geojson`) is painted in the reserved colour
:data:`RESERVED_BGR` = (255, 0, 255) BGR, pure magenta. The decision is exact per pixel centre, and
no other pixel ever has that colour (the ground image and the rendered sky are kept free of it), so
after a privacy masker has run, counting magenta pixels counts leaked privacy pixels exactly.

:class:`SimFrameSource` connects to a simulator (or real SITL) over MAVLink, asks for SIM_STATE
(truth position), ATTITUDE (vehicle clock) and GIMBAL_DEVICE_ATTITUDE_STATUS at the camera rate,
and yields ``(time_boot_ms, image)`` every ``1/fps`` of vehicle time, stamped with the vehicle clock.
The simulator sends, in each step where they are due, SIM_STATE, then the gimbal status, then
ATTITUDE; the source renders on ATTITUDE, so the pose and the stamp belong to the same step (against
real SITL, which gives no such ordering, the pose may be up to one period older than the stamp).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon

from drone_agent.errors import InputError, VehicleError
from drone_agent.sim.geo import Origin
from drone_agent.sim.ground import HALF_EXTENT_M, RES_M, RESERVED_BGR, make_ground_texture, strip_reserved
from drone_agent.sim.terrain import Terrain

SKY_BGR = (235, 206, 170)
Ring = Sequence[tuple[float, float]]  # (lon_deg, lat_deg) pairs, GeoJSON order


@dataclass(frozen=True, slots=True)
class CameraSpec:
    width_px: int = 640
    height_px: int = 480
    hfov_deg: float = 78.0
    fps: float = 10.0

    def __post_init__(self) -> None:
        if self.width_px < 8 or self.height_px < 8:
            raise InputError(f"camera resolution {self.width_px}x{self.height_px} is too small",
                             "use at least 8x8 pixels, e.g. 640x480")
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise InputError(f"camera hfov {self.hfov_deg} deg is out of range", "use 1..170")
        if self.fps <= 0:
            raise InputError(f"camera fps {self.fps} must be positive", "e.g. 10")

    @property
    def focal_px(self) -> float:
        return (self.width_px / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)


@dataclass(frozen=True, slots=True)
class CameraPose:
    north_m: float
    east_m: float
    alt_amsl_m: float
    heading_deg: float  # camera heading, earth frame (vehicle yaw + gimbal yaw)
    pitch_deg: float  # earth frame, -90 = straight down


def load_privacy_geojson(path: Path) -> list[list[Ring]]:
    """Polygons (each: exterior ring, then holes) of a GeoJSON file's Polygon/MultiPolygon features."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"privacy zone file {path}: {exc}", "give a readable GeoJSON file") from exc
    return privacy_polygons_from_geojson(data, str(path))


def privacy_polygons_from_geojson(data: object, where: str = "GeoJSON") -> list[list[Ring]]:
    geoms: list[dict] = []
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        geoms = [f.get("geometry") or {} for f in data.get("features", [])]
    elif isinstance(data, dict) and data.get("type") == "Feature":
        geoms = [data.get("geometry") or {}]
    elif isinstance(data, dict):
        geoms = [data]
    out: list[list[Ring]] = []
    for g in geoms:
        kind, coords = g.get("type"), g.get("coordinates")
        try:
            if kind == "Polygon":
                out.append([[(float(p[0]), float(p[1])) for p in ring] for ring in coords])
            elif kind == "MultiPolygon":
                out += [[[(float(p[0]), float(p[1])) for p in ring] for ring in poly]
                        for poly in coords]
        except (TypeError, ValueError, IndexError) as exc:
            raise InputError(f"{where}: bad {kind} coordinates", "use [lon, lat] pairs") from exc
    return out


class SyntheticCamera:
    """Renders what the gimbal camera sees (see the module docstring)."""

    def __init__(self, home: tuple[float, float, float], spec: CameraSpec = CameraSpec(), *,
                 seed: int = 0, privacy_polygons: Sequence[Sequence[Ring]] = (),
                 ground_truth: bool = False) -> None:
        self.origin = Origin(*home)
        self.spec = spec
        self.terrain = Terrain(home[2], seed)
        self.ground_truth = ground_truth
        self._texture = make_ground_texture(seed)
        w, h, f = spec.width_px, spec.height_px, spec.focal_px
        u, v = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5 - w / 2.0,
                           np.arange(h, dtype=np.float64) + 0.5 - h / 2.0)
        # camera frame (x right, y down, z forward) as body axes (forward, right, down)
        self._rays = np.stack([np.ones_like(u), u / f, v / f]).astype(np.float32)
        self._zones = [self._zone_polygon(rings) for rings in privacy_polygons]

    def _zone_polygon(self, rings: Sequence[Ring]) -> Polygon:
        ne = [[self.origin.to_ne(lat, lon)[::-1] for lon, lat in ring] for ring in rings]
        poly = Polygon(ne[0], ne[1:])  # x = east, y = north
        shapely.prepare(poly)
        return poly

    def render(self, pose: CameraPose) -> np.ndarray:
        """BGR uint8 image, height x width x 3."""
        th, ps = math.radians(pose.heading_deg), math.radians(pose.pitch_deg)
        cp, sp, ch, sh = math.cos(ps), math.sin(ps), math.cos(th), math.sin(th)
        rot = np.array([[ch, -sh, 0.0], [sh, ch, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
            [[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
        rays = self._rays
        rot32 = rot.astype(np.float32)
        d_n = rays[0] * rot32[0, 0] + rays[1] * rot32[0, 1] + rays[2] * rot32[0, 2]
        d_e = rays[0] * rot32[1, 0] + rays[1] * rot32[1, 1] + rays[2] * rot32[1, 2]
        down = rays[0] * rot32[2, 0] + rays[1] * rot32[2, 1] + rays[2] * rot32[2, 2]
        centre = rot @ np.array([1.0, 0.0, 0.0])
        ground_m = self.terrain.height_amsl_m(pose.north_m, pose.east_m)
        if centre[2] > 0.05:
            t_c = (pose.alt_amsl_m - ground_m) / centre[2]
            ground_m = self.terrain.height_amsl_m(pose.north_m + t_c * centre[0],
                                                  pose.east_m + t_c * centre[1])
        height = np.float32(max(pose.alt_amsl_m - ground_m, 0.01))
        hits = down > 1e-6
        t = height / np.maximum(down, np.float32(1e-6))
        # texture pixel coordinates; offsets are applied in float64 once, per-pixel work in float32
        off_x = (pose.east_m + HALF_EXTENT_M) / RES_M - 0.5
        off_y = (HALF_EXTENT_M - pose.north_m) / RES_M - 0.5
        size = self._texture.shape[0]
        map_x = t * d_e * np.float32(1.0 / RES_M) + np.float32(off_x % size)
        map_y = t * d_n * np.float32(-1.0 / RES_M) + np.float32(off_y % size)
        img = cv2.remap(self._texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        img[~hits] = SKY_BGR
        strip_reserved(img)
        if self.ground_truth and self._zones:
            hit_e = pose.east_m + t.astype(np.float64) * d_e
            hit_n = pose.north_m + t.astype(np.float64) * d_n
            inside = np.zeros(hits.shape, dtype=bool)
            for zone in self._zones:
                e0, n0, e1, n1 = zone.bounds
                near = hits & (hit_e >= e0) & (hit_e <= e1) & (hit_n >= n0) & (hit_n <= n1)
                if near.any():
                    inside[near] |= shapely.contains_xy(zone, hit_e[near], hit_n[near])
            img[inside] = RESERVED_BGR
        return img


def count_reserved(img: np.ndarray) -> int:
    """Number of pixels in the reserved ground-truth colour (leaked privacy pixels after masking)."""
    b, g, r = RESERVED_BGR
    return int(np.count_nonzero((img[..., 0] == b) & (img[..., 1] == g) & (img[..., 2] == r)))


def _yaw_from_quaternion(q: Sequence[float]) -> float:
    w, x, y, z = q
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


class SimFrameSource:
    """Frames from a SyntheticCamera posed by the simulator's SIM_STATE and gimbal status."""

    def __init__(self, connection: str, camera: SyntheticCamera, *, source_system: int = 255,
                 source_component: int = 191, timeout_s: float = 10.0) -> None:
        from pymavlink import mavutil

        self.camera = camera
        self.timeout_s = timeout_s
        self._mav = mavutil.mavlink_connection(connection, source_system=source_system,
                                               source_component=source_component,
                                               dialect="ardupilotmega")
        if self._mav.wait_heartbeat(timeout=timeout_s) is None:
            self._mav.close()
            raise VehicleError(f"no heartbeat from the simulator at {connection}",
                               "start it first (drone-agent sim) and check the address")
        interval_us = 1e6 / camera.spec.fps
        for msg_id in (108, 30, 285):  # SIM_STATE, ATTITUDE, GIMBAL_DEVICE_ATTITUDE_STATUS
            self._mav.mav.command_long_send(1, 1, 511, 0, msg_id, interval_us, 0, 0, 0, 0, 0)
        self._gimbal_pitch_deg = -90.0
        self._gimbal_yaw_rel_deg = 0.0

    def close(self) -> None:
        self._mav.close()

    def __enter__(self) -> SimFrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def frames(self, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(time_boot_ms, BGR image)`` every 1/fps of vehicle time."""
        period_ms = 1000.0 / self.camera.spec.fps
        next_ms: float | None = None
        state = None
        produced = 0
        last_rx = time.monotonic()
        while max_frames is None or produced < max_frames:
            msg = self._mav.recv_match(type=["SIM_STATE", "ATTITUDE",
                                             "GIMBAL_DEVICE_ATTITUDE_STATUS"],
                                       blocking=True, timeout=0.5)
            if msg is None:
                if time.monotonic() - last_rx > self.timeout_s:
                    raise VehicleError("simulator telemetry stopped (no SIM_STATE/ATTITUDE)",
                                       "is the simulator still running?")
                continue
            last_rx = time.monotonic()
            kind = msg.get_type()
            if kind == "SIM_STATE":
                state = msg
                continue
            if kind == "GIMBAL_DEVICE_ATTITUDE_STATUS":
                w, x, y, z = msg.q
                sin_pitch = max(-1.0, min(1.0, 2 * (w * y - z * x)))
                self._gimbal_pitch_deg = math.degrees(math.asin(sin_pitch))
                self._gimbal_yaw_rel_deg = (math.degrees(msg.delta_yaw)
                                            if not math.isnan(msg.delta_yaw)
                                            else math.degrees(_yaw_from_quaternion(msg.q)))
                continue
            # ATTITUDE: the simulator sends the step's SIM_STATE and gimbal status just before it
            now_ms = msg.time_boot_ms
            if state is None:
                continue
            if next_ms is None:
                next_ms = now_ms
            if now_ms + 1e-6 < next_ms:
                continue
            next_ms += period_ms * max(1, math.floor((now_ms - next_ms) / period_ms) + 1)
            lat = state.lat_int * 1e-7 if state.lat_int else state.lat
            lon = state.lon_int * 1e-7 if state.lon_int else state.lon
            n, e = self.camera.origin.to_ne(lat, lon)
            pose = CameraPose(n, e, state.alt, math.degrees(state.yaw) + self._gimbal_yaw_rel_deg,
                              self._gimbal_pitch_deg)
            produced += 1
            yield now_ms, self.camera.render(pose)
