"""The pre-flight gate ("no permission, no take-off"): a pure function over what is known.

The gate permits arming/take-off only when *every* condition holds; otherwise it lists every
reason (the CLI prints them as one line, exit code 3):

1. the profile compiled into a permitted fence (``compile_fence`` refusals);
2. the fence was uploaded and read back identical, and the FENCE_*/AVOID_* parameters read back
   as set (:class:`~drone_agent.agent.fence_setup.SyncReport`);
3. the flight controller's own fence will refuse arming outside the area and act on a breach:
   FENCE_ENABLE = 1, FENCE_TYPE includes polygons (4), FENCE_ACTION is not "report only",
   and an inclusion item is present -- ArduPilot's pre-arm check then refuses to arm while the
   vehicle is outside ("Vehicle breaching fences");
4. the vehicle's present position is inside the operation area and outside every no-fly zone
   (the fence check at its position, legal boundaries);
5. GPS has a 3-D fix and the EKF reports valid attitude, velocity and position estimates;
6. a source of height above the ground is acceptable (the geofence's terrain policy: valid
   TERRAIN_REPORT, a local elevation file, or ground declared flat in the profile);
7. the vehicle's RTL altitude (``RTL_ALT_M`` in m on 4.7+, ``RTL_ALT`` in cm before -- read from
   the vehicle, never assumed) is below the height ceiling: a breach action that climbs above the
   legal height would itself be a breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drone_agent.agent.state import VehicleState

FENCE_TYPE_POLYGON = 4
FENCE_ACTION_REPORT_ONLY = 0
INCLUSION_COMMANDS = (5001, 5003)


@dataclass(frozen=True, slots=True)
class GateResult:
    permitted: bool
    reasons: tuple[str, ...]

    def as_record(self) -> dict[str, Any]:
        return {"permitted": self.permitted, "reasons": list(self.reasons)}


def preflight_gate(
    *,
    fence_refusals: tuple[str, ...],
    sync_problems: tuple[str, ...],
    controller_params: dict[str, float | None],
    inclusion_items: int,
    vehicle: VehicleState,
    position_check: Any | None,
    rtl_alt_m: float | None = None,
    ceiling_m: float | None = None,
    terrain_refusal: str | None = None,
) -> GateResult:
    """Evaluate the gate; ``position_check`` is the FenceCheck at the vehicle's position."""
    reasons: list[str] = list(fence_refusals) + list(sync_problems)
    enable = controller_params.get("FENCE_ENABLE")
    fence_type = controller_params.get("FENCE_TYPE")
    action = controller_params.get("FENCE_ACTION")
    if enable != 1:
        reasons.append(f"flight controller fence not enabled (FENCE_ENABLE={enable})")
    if fence_type is None or not int(fence_type) & FENCE_TYPE_POLYGON:
        reasons.append(f"FENCE_TYPE={fence_type} does not include polygons (4): the uploaded "
                       "area would not be enforced by the flight controller")
    if action is None or int(action) == FENCE_ACTION_REPORT_ONLY:
        reasons.append(f"FENCE_ACTION={action}: the flight controller would only report a breach")
    if inclusion_items == 0:
        reasons.append("no inclusion area in the flight controller's fence")
    if not vehicle.has_position or position_check is None:
        reasons.append("no vehicle position yet")
    elif not position_check.inside:
        reasons.append("vehicle is not where it may fly: " + "; ".join(position_check.violations))
    if not vehicle.gps_ok:
        reasons.append(f"GPS has no 3-D fix (fix type {vehicle.gps_fix_type})")
    if not vehicle.ekf_ok:
        reasons.append(f"EKF not healthy (flags 0x{vehicle.ekf_flags:04x})")
    if terrain_refusal is not None:
        reasons.append(terrain_refusal)
    if rtl_alt_m is not None and ceiling_m is not None and rtl_alt_m > ceiling_m:
        reasons.append(f"RTL altitude {rtl_alt_m:g} m is above the {ceiling_m:g} m height ceiling: "
                       "an RTL would climb through it")
    return GateResult(not reasons, tuple(reasons))
