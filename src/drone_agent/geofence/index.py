"""Direct access to shapely's compiled core for the per-check hot path.

``Fence.check`` runs on every telemetry update and makes about ten shapely calls; the public
wrappers' argument handling (array coercion, decorators, keyword parsing) costs more than the GEOS
work itself (about 3 us per call on the project's machine). The hot path therefore calls the
ufuncs in ``shapely.lib`` (signatures of shapely >= 2.1) and queries the STRtree through
:class:`ZoneIndex`, one geometry at a time. Everything that is not per-check uses the public API.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

lib = shapely.lib
ALLOW_NAN = np.intc(0)  # shapely.HandleNaN.allow, the creation ufuncs' second argument
_INTERSECTS = 1  # shapely.strtree.BinaryPredicate.intersects
_NODE_CAPACITY = 10  # shapely.STRtree's default


class ZoneIndex:
    """An STRtree over zone geometries (indices follow the list given)."""

    __slots__ = ("_tree",)

    def __init__(self, geometries: list[BaseGeometry]) -> None:
        self._tree = lib.STRtree(np.array(geometries, dtype=object), _NODE_CAPACITY)

    def intersecting(self, geometry: BaseGeometry) -> np.ndarray:
        """Indices of the geometries that intersect ``geometry``."""
        return self._tree.query(np.array([geometry], dtype=object), _INTERSECTS)[1]

    def within(self, geometry: BaseGeometry, distance_m: float) -> np.ndarray:
        """Indices of the geometries within ``distance_m`` of ``geometry``."""
        return self._tree.dwithin(np.array([geometry], dtype=object), np.array([distance_m]))[1]

    def nearest(self, geometry: BaseGeometry, max_distance_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances of the nearest geometries (ties included) within the distance."""
        found, distances = self._tree.query_nearest(np.array([geometry], dtype=object), max_distance_m, False, True)
        return found[1], distances
