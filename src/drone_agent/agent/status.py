"""A plain snapshot of what the pilot needs to see, and its one-line rendering.

:class:`FlightStatus` is built from the latest vehicle state, link state, guard decision and (when
a camera is attached) capture status; the terminal dashboard (:mod:`.console`) renders the same
object as a table, and a non-TTY output gets :meth:`FlightStatus.line`.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drone_agent.agent.state import VehicleState


@dataclass(frozen=True, slots=True)
class FlightStatus:
    utc: str
    link_up: bool
    mode: str
    armed: bool
    lat_deg: float | None
    lon_deg: float | None
    height_agl_m: float | None
    height_source: str
    height_limit_m: float
    boundary_margin_m: float | None  # to the nearest effective boundary (legal less safety margin)
    nearest_zone: str | None
    time_to_breach_s: float | None
    guard_phase: str
    gps_fix_type: int = 0
    satellites: int = 0
    gps_ok: bool = False
    ekf_ok: bool = False
    battery_remaining_pct: int | None = None
    capture: Any | None = None  # capture_runtime.CaptureStatus; None: no camera attached
    free_disk_gb: float | None = None

    @property
    def recording(self) -> bool | None:
        return None if self.capture is None else self.capture.recording

    def line(self) -> str:
        def num(value: float | None, fmt: str) -> str:
            return "-" if value is None or not math.isfinite(value) else format(value, fmt)

        rec = "-" if self.capture is None else "ON" if self.capture.recording else "off"
        if self.capture is not None:
            rec += f"({self.capture.segments_sealed} sealed)"
        return (
            f"{self.utc} link={'up' if self.link_up else 'LOST'} mode={self.mode} "
            f"{'ARMED' if self.armed else 'disarmed'} gps={self.gps_fix_type}/{self.satellites} "
            f"ekf={'ok' if self.ekf_ok else 'BAD'} pos={num(self.lat_deg, '.6f')},"
            f"{num(self.lon_deg, '.6f')} h={num(self.height_agl_m, '.1f')}/"
            f"{self.height_limit_m:g}m({self.height_source}) "
            f"boundary={num(self.boundary_margin_m, '.1f')}m[{self.nearest_zone or '-'}] "
            f"ttb={num(self.time_to_breach_s, '.1f')}s guard={self.guard_phase} rec={rec}"
        )


def free_disk_gb(path: Path) -> float | None:
    try:
        return shutil.disk_usage(path).free / 1e9
    except OSError:
        return None


def flight_status(
    vehicle: VehicleState,
    link_up: bool,
    check: Any | None,
    guard_phase: str,
    height_limit_m: float,
    capture: Any | None = None,
    disk_path: Path | None = None,
) -> FlightStatus:
    return FlightStatus(
        utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        link_up=link_up,
        mode=vehicle.mode,
        armed=vehicle.armed,
        lat_deg=vehicle.lat_deg,
        lon_deg=vehicle.lon_deg,
        height_agl_m=vehicle.height_agl_m,
        height_source=vehicle.height_source,
        height_limit_m=height_limit_m,
        boundary_margin_m=None if check is None else check.horizontal_margin_m,
        nearest_zone=None if check is None else check.nearest_zone,
        time_to_breach_s=None if check is None else check.time_to_breach_s,
        guard_phase=guard_phase,
        gps_fix_type=vehicle.gps_fix_type,
        satellites=vehicle.satellites,
        gps_ok=vehicle.gps_ok,
        ekf_ok=vehicle.ekf_ok,
        battery_remaining_pct=vehicle.battery_remaining_pct,
        capture=capture,
        free_disk_gb=None if disk_path is None else free_disk_gb(disk_path),
    )
