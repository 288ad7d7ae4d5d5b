"""Zones, CAA limits profile, compiled fence and predictive breach maths (pure core).

Public API (stable; other packages code against these names)::

    op = load_operation(Path("op.toml"))                       # InputError / NotPermitted
    op = operation_from_zone_files([Path("z.geojson")], home=GeoPoint(lat, lon, alt_amsl))
    fence = compile_fence(op, home=GeoPoint(...), now_utc=datetime.now(UTC))
    fence.frame.to_local(lat_deg, lon_deg) -> (east_m, north_m); fence.frame.to_geo(e, n) -> (lat, lon)
    fence.check(KinematicState(east_m, north_m, alt_agl_m, vel_east_mps, vel_north_mps, vel_up_mps))
    fence.privacy_zones_local(); fence.controller_plan(ground) -> ControllerFencePlan
    select_terrain_source(policy, flight_controller_terrain=..., elevation_file_loaded=...)
"""

from drone_agent.geofence.builders import aerodrome_frz, prison_zone
from drone_agent.geofence.controller import ControllerFencePlan, FenceItem
from drone_agent.geofence.fence import Fence, FenceCheck, KinematicState, compile_fence
from drone_agent.geofence.geo import GeoPoint, LocalFrame
from drone_agent.geofence.limits import Limits, LimitOverride, resolve_limits
from drone_agent.geofence.operation import Operation, load_operation, operation_from_zone_files
from drone_agent.geofence.terrain import (
    ElevationGrid,
    GroundProfile,
    TerrainDecision,
    TerrainPolicy,
    ground_profile,
    select_terrain_source,
)
from drone_agent.geofence.zones import Permission, Zone, load_zone_file

__all__ = [
    "ControllerFencePlan",
    "ElevationGrid",
    "Fence",
    "FenceCheck",
    "FenceItem",
    "GeoPoint",
    "GroundProfile",
    "KinematicState",
    "LimitOverride",
    "Limits",
    "LocalFrame",
    "Operation",
    "Permission",
    "TerrainDecision",
    "TerrainPolicy",
    "Zone",
    "aerodrome_frz",
    "compile_fence",
    "ground_profile",
    "load_operation",
    "load_zone_file",
    "operation_from_zone_files",
    "prison_zone",
    "resolve_limits",
    "select_terrain_source",
]
