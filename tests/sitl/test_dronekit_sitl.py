"""The DroneKit mission of ``tests/integration/test_dronekit.py`` against real ArduPilot SITL
(skipped unless ARDUPILOT_SITL is set): ``fly`` on SITL's first port (5760 + 10·instance), the
DroneKit script with ``simple_goto`` on the second (5762 + 10·instance, which SITL opens only once
the first has a client -- the agent connects first). Two legs at 10 m/s towards a point inside the
operation area's north edge, each stopped by the agent; the same assertions as the simulator test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from drone_agent.cli import main

pytest.importorskip("dronekit", reason="needs the dronekit extra: pip install '.[dronekit]'")

SPEEDUP = 5.0


def _integration_module():  # noqa: ANN202 -- the shared mission and its assertions
    path = Path(__file__).resolve().parents[1] / "integration" / "test_dronekit.py"
    spec = importlib.util.spec_from_file_location("dronekit_mission_scenario", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # registered before it runs: its @dataclass (with postponed annotations) looks itself up in
    # sys.modules, and fails with "'NoneType' object has no attribute '__dict__'" otherwise
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def sitl(**kwargs):  # noqa: ANN003, ANN201
    from drone_agent.sim import SitlProcess  # imported here: optional, needs ARDUPILOT_SITL

    return SitlProcess(speedup=SPEEDUP, **kwargs)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    assert main(["keys", "init", "--dir", str(folder), "--demo-evidence-key"]) == 0
    return folder


def test_dronekit_simple_goto_is_stopped_before_the_edge_twice(tmp_path: Path, keys: Path) -> None:
    scenario = _integration_module()
    # SITL's second port takes one client (the script): the furthest point comes from the tlog.
    mission = scenario.fly_dronekit_mission(sitl, tmp_path, keys, goto="simple",
                                            observe_truth=False, timeout_s=300.0)
    print("SITL mission:", mission.summary())  # shown with pytest -rP
    scenario.assert_guarded(mission)
