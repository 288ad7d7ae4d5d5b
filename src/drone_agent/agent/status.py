"""A plain snapshot of what the pilot needs to see, and its one-line rendering.

:class:`FlightStatus` is built from the latest vehicle state, link state and guard decision; a
richer display (the integrator's dashboard) renders the same object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
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
    recording: bool | None  # None: no camera attached to this process

    def line(self) -> str:
        def num(value: float | None, fmt: str) -> str:
            return "-" if value is None or not math.isfinite(value) else format(value, fmt)

        return (
            f"{self.utc} link={'up' if self.link_up else 'LOST'} mode={self.mode} "
            f"{'ARMED' if self.armed else 'disarmed'} pos={num(self.lat_deg, '.6f')},"
            f"{num(self.lon_deg, '.6f')} h={num(self.height_agl_m, '.1f')}/"
            f"{self.height_limit_m:g}m({self.height_source}) "
            f"boundary={num(self.boundary_margin_m, '.1f')}m[{self.nearest_zone or '-'}] "
            f"ttb={num(self.time_to_breach_s, '.1f')}s guard={self.guard_phase} "
            f"rec={'-' if self.recording is None else 'ON' if self.recording else 'off'}"
        )


def flight_status(
    vehicle: VehicleState,
    link_up: bool,
    check: Any | None,
    guard_phase: str,
    height_limit_m: float,
    recording: bool | None = None,
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
        recording=recording,
    )
