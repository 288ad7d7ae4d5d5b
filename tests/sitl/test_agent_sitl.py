"""The agent's scenarios against real ArduPilot SITL (skipped unless ARDUPILOT_SITL is set):
stopped before the boundary at 5, 10 and 15 m/s and in a 3 m/s climb, the fence read back
identical from real ArduCopter, and its own pre-arm fence check refusing outside the area."""

from __future__ import annotations

from pathlib import Path

import pytest
from drone_agent.agent.scenario import prearm_refusal_outside_area, run_boundary_scenario
from drone_agent.cli import main

SPEEDUP = 5.0


def sitl(**kwargs):  # noqa: ANN003, ANN201
    from drone_agent.sim import SitlProcess  # imported here: optional, needs ARDUPILOT_SITL

    return SitlProcess(speedup=SPEEDUP, **kwargs)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["keys", "init", "--dir", str(folder), "--demo-evidence-key"]) == 0
    return folder


@pytest.mark.parametrize("speed_mps", [5.0, 10.0, 15.0])
def test_stopped_before_the_inclusion_boundary(tmp_path: Path, keys: Path, speed_mps: float) -> None:
    result = run_boundary_scenario(sitl, tmp_path, keys, speed_mps=speed_mps, timeout_s=300.0)
    assert result.excursion_m == 0.0, result.as_record()
    assert result.agent.stops >= 1


def test_climb_stopped_below_the_ceiling(tmp_path: Path, keys: Path) -> None:
    result = run_boundary_scenario(sitl, tmp_path, keys, climb_mps=3.0, timeout_s=300.0)
    assert result.excursion_m == 0.0, result.as_record()


def test_arducopter_refuses_to_arm_outside_the_uploaded_area() -> None:
    """ArduCopter's own fence pre-arm check, with the configuration fly uploads, refuses to arm
    a vehicle whose position is outside the inclusion area."""
    refusal = prearm_refusal_outside_area(sitl, timeout_s=300.0)
    assert "MAV_CMD_COMPONENT_ARM_DISARM" in refusal
