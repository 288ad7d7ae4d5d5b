"""Terrain: where height above the closest surface comes from, and the ground under the area.

The legal ceiling is measured from the surface, while ArduPilot's FENCE_ALT_MAX is relative to home.
The agent therefore works in height above ground (``KinematicState.alt_agl_m``) and picks the source
of that height with :func:`select_terrain_source`, a pure policy in this order:

1. the flight controller's TERRAIN_REPORT (``current_height``), when it reports valid terrain;
2. a local elevation file named in the profile (ESRI ASCII grid in WGS84 degrees, heights AMSL);
3. flat ground at home elevation (height above home) -- acceptable only when the profile declares
   the ground flat (``[terrain] declared_flat = true``, with a note saying why); otherwise refused.

The decision always carries a reason, so it is logged and never silent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from drone_agent.errors import InputError
from drone_agent.geofence.geo import GeoPoint

SOURCE_FLIGHT_CONTROLLER = "flight_controller"
SOURCE_ELEVATION_FILE = "elevation_file"
SOURCE_FLAT = "flat_at_home"


@dataclass(frozen=True, slots=True)
class TerrainPolicy:
    """The ``[terrain]`` table: an optional elevation file and whether flat ground is declared."""

    elevation_file: Path | None = None
    declared_flat: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class TerrainDecision:
    source: str
    acceptable: bool
    reason: str


def select_terrain_source(
    policy: TerrainPolicy, *, flight_controller_terrain: bool, elevation_file_loaded: bool
) -> TerrainDecision:
    """Choose the height-above-ground source (see module docstring). Pure; the agent calls it."""
    if flight_controller_terrain:
        return TerrainDecision(SOURCE_FLIGHT_CONTROLLER, True, "flight controller TERRAIN_REPORT is valid")
    if elevation_file_loaded:
        return TerrainDecision(SOURCE_ELEVATION_FILE, True, f"local elevation file {policy.elevation_file}")
    if policy.declared_flat:
        note = f" ({policy.note})" if policy.note else ""
        return TerrainDecision(SOURCE_FLAT, True, f"ground declared flat in the profile{note}: height above home")
    return TerrainDecision(
        SOURCE_FLAT,
        False,
        "no terrain data (no TERRAIN_REPORT, no elevation file) and the ground is not declared flat: "
        "height above the closest surface cannot be enforced",
    )


@dataclass(frozen=True, slots=True)
class GroundProfile:
    """Ground elevation (AMSL) at home and its extremes under the operation area."""

    home_amsl_m: float
    min_amsl_m: float
    max_amsl_m: float
    source: str


@dataclass(frozen=True, slots=True)
class ElevationGrid:
    """An ESRI ASCII grid (``.asc``) in WGS84 degrees; values are metres AMSL."""

    path: Path
    lon0_deg: float  # centre of the lower-left cell
    lat0_deg: float
    cell_deg: float
    heights_m: np.ndarray  # rows from south to north; NaN = no data

    @classmethod
    def load(cls, path: Path) -> ElevationGrid:
        try:
            lines = Path(path).read_text(encoding="ascii").split("\n")
        except FileNotFoundError:
            raise InputError(f"{path}: elevation file not found", "fix [terrain] elevation_file or remove it") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read elevation file ({exc})", "give an ESRI ASCII grid") from None
        header: dict[str, float] = {}
        row = 0
        hint = "an ESRI ASCII grid with ncols, nrows, xllcorner, yllcorner, cellsize (degrees, WGS84)"
        while row < len(lines) and lines[row].split() and lines[row].split()[0][0].isalpha():
            parts = lines[row].split()
            try:
                header[parts[0].lower()] = float(parts[1])
            except (IndexError, ValueError):
                raise InputError(f"{path}: bad header line {row + 1}", hint) from None
            row += 1
        needed = {"ncols", "nrows", "cellsize"}
        if not needed <= header.keys() or not ({"xllcorner", "xllcenter"} & header.keys()):
            raise InputError(f"{path}: header lacks {', '.join(sorted(needed - header.keys())) or 'xll/yll'}", hint)
        ncols, nrows, cell = int(header["ncols"]), int(header["nrows"]), header["cellsize"]
        try:
            rows = [[float(v) for v in line.split()] for line in lines[row:] if line.strip()]
        except ValueError:
            raise InputError(f"{path}: non-numeric height value", hint) from None
        if len(rows) != nrows or any(len(r) != ncols for r in rows) or cell <= 0:
            found = f"{len(rows)} rows of {sorted({len(r) for r in rows})} values"
            raise InputError(f"{path}: expected {nrows} x {ncols} values, found {found}", hint)
        data = np.array(rows)
        nodata = header.get("nodata_value")
        if nodata is not None:
            data[data == nodata] = math.nan
        half = 0.0 if "xllcenter" in header else cell / 2
        lon0 = header.get("xllcenter", header.get("xllcorner", 0.0)) + half
        lat0 = header.get("yllcenter", header.get("yllcorner", 0.0)) + half
        return cls(Path(path), lon0, lat0, cell, data[::-1].copy())

    def elevation_amsl_m(self, lat_deg: float, lon_deg: float) -> float | None:
        """Bilinear interpolation between cell centres (flat in the outer half-cells); None outside
        the grid or over no-data."""
        fx = (lon_deg - self.lon0_deg) / self.cell_deg
        fy = (lat_deg - self.lat0_deg) / self.cell_deg
        nrows, ncols = self.heights_m.shape
        if not (-0.5 <= fx <= ncols - 0.5 and -0.5 <= fy <= nrows - 0.5):
            return None  # outside the grid's cells
        fx, fy = min(max(fx, 0.0), ncols - 1.0), min(max(fy, 0.0), nrows - 1.0)  # edge half-cells
        x0, y0 = min(int(fx), ncols - 2) if ncols > 1 else 0, min(int(fy), nrows - 2) if nrows > 1 else 0
        tx, ty = fx - x0, fy - y0
        x1, y1 = min(x0 + 1, ncols - 1), min(y0 + 1, nrows - 1)
        h = self.heights_m
        value = (
            h[y0, x0] * (1 - tx) * (1 - ty) + h[y0, x1] * tx * (1 - ty) + h[y1, x0] * (1 - tx) * ty + h[y1, x1] * tx * ty
        )
        return None if math.isnan(value) else float(value)

    def extremes_within(self, area_lonlat: BaseGeometry) -> tuple[float, float] | None:
        """(min, max) of every cell whose centre lies within one cell of the area; None if none."""
        nrows, ncols = self.heights_m.shape
        lons = self.lon0_deg + np.arange(ncols) * self.cell_deg
        lats = self.lat0_deg + np.arange(nrows) * self.cell_deg
        grid_lon, grid_lat = np.meshgrid(lons, lats)
        near = shapely.contains_xy(area_lonlat.buffer(self.cell_deg * 1.5), grid_lon, grid_lat)
        values = self.heights_m[near]
        if values.size == 0 or np.isnan(values).any():
            return None
        return float(values.min()), float(values.max())


def ground_profile(
    grid: ElevationGrid | None, policy: TerrainPolicy, home: GeoPoint, area_lonlat: BaseGeometry
) -> GroundProfile | None:
    """Ground under the operation area: from the elevation file when it covers home and the area,
    else level with home when the profile declares the ground flat; None when nothing is known."""
    if grid is not None:
        at_home = grid.elevation_amsl_m(home.lat_deg, home.lon_deg)
        extremes = grid.extremes_within(area_lonlat)
        if at_home is not None and extremes is not None:
            return GroundProfile(at_home, extremes[0], extremes[1], f"elevation file {grid.path}")
    if policy.declared_flat:
        level = home.alt_amsl_m if home.alt_amsl_m is not None else 0.0
        return GroundProfile(level, level, level, "ground declared flat in the profile")
    return None
