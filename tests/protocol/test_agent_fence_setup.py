"""The full fence sync (params read → upload → read back → params set → re-read) and the gate."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.fence_setup import sync_fence
from drone_agent.agent.gate import preflight_gate
from drone_agent.agent.session import Peer
from drone_agent.agent.state import VehicleState
from drone_agent.agent.testing import FakeAutopilot, MockClock, converse

PEER = Peer(1, 1, 254, 191)
PARAMS = {"FENCE_ENABLE": 1.0, "FENCE_TYPE": 7.0, "FENCE_ACTION": 4.0, "FENCE_ALT_MAX": 115.0,
          "FENCE_MARGIN": 5.0, "AVOID_ENABLE": 3.0, "FENCE_RET_RALLY": 0.0}


@dataclass(frozen=True)
class Item:
    kind: str
    points_deg: tuple
    radius_m: float | None = None


ITEMS = (Item("inclusion_polygon", ((51.2718, 0.5227), (51.2708, 0.5248), (51.2691, 0.5241))),
         Item("exclusion_circle", ((51.2705, 0.5244),), 40.0))


@pytest.fixture
def vehicle(sitl_fixtures) -> FakeAutopilot:  # noqa: ANN001
    raw = json.loads((sitl_fixtures / "params_all.json").read_text())
    return FakeAutopilot(params={name: entry["value"] for name, entry in raw.items()})


def runner(vehicle: FakeAutopilot):  # noqa: ANN201
    clock = MockClock()

    def run(session):  # noqa: ANN001, ANN202
        converse(session, vehicle, clock)
        return session.result()

    return run


def test_sync_uploads_reads_back_and_sets_params(vehicle: FakeAutopilot) -> None:
    events = []
    report = sync_fence(runner(vehicle), PEER, ITEMS, PARAMS, lambda e, **f: events.append((e, f)))
    assert report.ok and report.inclusion_items == 3
    assert report.skipped == ("FENCE_RET_RALLY",)  # Plane-only: not on this Copter, skipped
    assert vehicle.params["FENCE_ALT_MAX"] == 115.0 and vehicle.params["FENCE_ACTION"] == 4.0
    sets = [m.param_id for m in vehicle.received if m.get_type() == "PARAM_SET"]
    assert sets[-1] == "FENCE_ENABLE"  # enabled last, after the fence is in place
    assert [e for e, _ in events] == ["fence_upload", "fence_readback", "fence_params"]
    assert events[1][1]["identical"] is True


def test_sync_reports_rejected_upload(vehicle: FakeAutopilot) -> None:
    bad = (Item("inclusion_polygon", ((51.27, 0.52), (51.28, 0.52), (51.28, 0.53))),)
    vehicle.command_results = {}
    original = vehicle._on_mission_item_int

    def reject(msg):  # noqa: ANN001, ANN202
        out = original(msg)
        return [m for m in out if m.get_type() != "MISSION_ACK"] + (
            [vehicle._mission_ack(msg, mavlink.MAV_MISSION_NO_SPACE)]
            if any(m.get_type() == "MISSION_ACK" for m in out) else [])

    vehicle._on_mission_item_int = reject  # type: ignore[method-assign]
    report = sync_fence(runner(vehicle), PEER, bad, PARAMS, lambda *a, **k: None)
    assert not report.ok and "MAV_MISSION_NO_SPACE" in report.problems[0]
    assert "PARAM_SET" not in {m.get_type() for m in vehicle.received}  # nothing enabled


def test_sync_reports_altered_read_back(vehicle: FakeAutopilot) -> None:
    vehicle.fence_alter = lambda items: items[:-1]
    report = sync_fence(runner(vehicle), PEER, ITEMS, PARAMS, lambda *a, **k: None)
    assert report.problems == ("fence read back different: 4 items uploaded, 3 read back",)


def test_sync_reports_param_that_reads_back_different(vehicle: FakeAutopilot) -> None:
    class Sticky(FakeAutopilot):
        def _on_param_request_read(self, msg):  # noqa: ANN001, ANN202
            if msg.param_id == "FENCE_ACTION":
                self.params["FENCE_ACTION"] = 1.0  # someone else changed it meanwhile
            return super()._on_param_request_read(msg)

    sticky = Sticky(params=vehicle.params)
    report = sync_fence(runner(sticky), PEER, ITEMS, PARAMS, lambda *a, **k: None)
    assert report.problems == ("parameter FENCE_ACTION reads back 1.0, set 4",)


def test_missing_required_param_stops_before_upload() -> None:
    vehicle = FakeAutopilot(params={"FENCE_TYPE": 7.0, "FENCE_ACTION": 1.0, "FENCE_ALT_MAX": 100.0})
    report = sync_fence(runner(vehicle), PEER, ITEMS, PARAMS, lambda *a, **k: None)
    assert report.problems == ("parameter FENCE_ENABLE missing on this firmware",)
    assert vehicle.fence == []


@dataclass(frozen=True)
class Check:
    inside: bool
    violations: tuple = ()


HEALTHY = VehicleState(lat_deg=51.27, lon_deg=0.52, gps_fix_type=3, ekf_flags=0x3F)
GOOD_PARAMS = {"FENCE_ENABLE": 1.0, "FENCE_TYPE": 7.0, "FENCE_ACTION": 4.0}


def gate(**changes):  # noqa: ANN003, ANN201
    args = dict(fence_refusals=(), sync_problems=(), controller_params=GOOD_PARAMS,
                inclusion_items=4, vehicle=HEALTHY, position_check=Check(True))
    args.update(changes)
    return preflight_gate(**args)


def test_gate_permits_when_everything_holds() -> None:
    result = gate()
    assert result.permitted and result.reasons == ()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"fence_refusals": ("home is outside the operation area 'X'",)}, "home is outside"),
        ({"sync_problems": ("fence read back different: ...",)}, "read back different"),
        ({"controller_params": {**GOOD_PARAMS, "FENCE_ENABLE": 0.0}}, "not enabled"),
        ({"controller_params": {**GOOD_PARAMS, "FENCE_TYPE": 3.0}}, "does not include polygons"),
        ({"controller_params": {**GOOD_PARAMS, "FENCE_ACTION": 0.0}}, "only report"),
        ({"inclusion_items": 0}, "no inclusion area"),
        ({"position_check": Check(False, ("inside no-fly zone 'School'",))}, "no-fly zone 'School'"),
        ({"vehicle": replace(HEALTHY, gps_fix_type=2)}, "GPS has no 3-D fix"),
        ({"vehicle": replace(HEALTHY, ekf_flags=0x3F | 0x80)}, "EKF not healthy"),
        ({"vehicle": VehicleState(), "position_check": None}, "no vehicle position yet"),
        ({"rtl_alt_m": 150.0, "ceiling_m": 120.0}, "RTL altitude 150 m is above the 120 m"),
    ],
)
def test_gate_refuses_with_the_reason(changes: dict, reason: str) -> None:
    result = gate(**changes)
    assert not result.permitted and any(reason in r for r in result.reasons)
