"""A synthetic, deterministic hilly terrain around home (the simulator's SRTM stand-in).

``terrain_height_m(north_m, east_m)`` is the ground height AMSL at a local point. Home sits exactly at
the home altitude; gentle hills (a few metres over a few hundred metres, like the Kent downs around
the fixtures' home) rise and fall around it, so TERRAIN_REPORT and height-above-terrain differ from
height-above-home in a way a test can see. Pure function of the position, home altitude and seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Terrain:
    home_alt_amsl_m: float
    seed: int = 0

    def _raw(self, north_m: float, east_m: float) -> float:
        phase = (self.seed % 97) * 0.37
        return (
            6.0 * math.sin(north_m / 180.0 + phase) * math.cos(east_m / 240.0 - phase)
            + 4.0 * math.exp(-(((north_m - 220.0) ** 2) + ((east_m + 160.0) ** 2)) / 120.0**2)
            + 2.0 * math.sin((north_m + east_m) / 90.0 + 2.0 * phase)
        )

    def height_amsl_m(self, north_m: float, east_m: float) -> float:
        return self.home_alt_amsl_m + self._raw(north_m, east_m) - self._raw(0.0, 0.0)
