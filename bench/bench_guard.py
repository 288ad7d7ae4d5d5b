"""Benchmark: the guard against the simulator -- excursion beyond the boundary and reaction time.

Runs ``drone_agent.agent.scenario.run_boundary_scenario`` (fly in a thread, a second client
commanding GUIDED velocity at the boundary) at 5, 10 and 15 m/s north and at 3 m/s up, and, in
the same run, the *baseline*: the same flights with only the flight controller's own fence
(uploaded by the same code, FENCE_ACTION 1 = RTL, AVOID_ENABLE 0, as in the recorded SITL log) and
no agent guarding. The 15 m/s flights set ANGLE_MAX 6000 (``lean_params_for``): the default quad,
real or simulated, tops out at 10 m/s. Also times the pieces of the agent's reaction in-process:
decoding one GLOBAL_POSITION_INT packet, and one guard decision (two fence checks).

Prints one JSON object. Usage: ``python3 bench/bench_guard.py [--speedup 5] [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec
from drone_agent.agent.command import CommandLong, ModeChange
from drone_agent.agent.fence_setup import sync_fence
from drone_agent.agent.guard import GuardConfig, GuardState, decide, kinematic_state
from drone_agent.agent.link import Link
from drone_agent.agent.scenario import (
    HOME,
    TAKEOFF_ALT_M,
    VELOCITY_ONLY_MASK,
    Track,
    lean_params_for,
    north_edge_for,
    run_boundary_scenario,
    with_params,
)
from drone_agent.agent.state import VehicleState
from drone_agent.agent.streams import StreamSetup
from drone_agent.agent.testing import rectangle_zone_file
from drone_agent.agent.transport import open_transport, parse_connection
from drone_agent.cli import main
from drone_agent.geofence import (
    GeoPoint,
    KinematicState,
    LocalFrame,
    compile_fence,
    operation_from_zone_files,
)
from drone_agent.sim import SimulatorProcess


def controller_fence_only(simulator, workdir: Path, speed_mps: float) -> dict:  # noqa: ANN001
    """Baseline: the flight controller's fence alone (RTL on breach, no avoidance, no agent)."""
    edge = north_edge_for(speed_mps)
    zones = workdir / "zones.geojson"
    rectangle_zone_file(zones, HOME[0], HOME[1], north_m=edge, south_m=edge, east_m=edge, west_m=edge)
    home = GeoPoint(*HOME)
    fence = compile_fence(operation_from_zone_files([zones], home=home), home=home,
                          now_utc=datetime.now(UTC))
    # polygon + max altitude only (5): the home circle would otherwise act first at 15 m/s
    params = {"FENCE_ENABLE": 1.0, "FENCE_TYPE": 5.0, "FENCE_ACTION": 1.0, "FENCE_ALT_MAX": 115.0,
              "AVOID_ENABLE": 0.0}
    flight_params = {"WP_SPD": speed_mps + 5.0, **lean_params_for(speed_mps)}
    with simulator(home=HOME, params=flight_params) as sim:
        gcs = Link(open_transport(parse_connection(sim.gcs_connection)), Codec(255, 190))
        track = Track(LocalFrame(home))
        gcs.add(track)
        try:
            gcs.wait_for_autopilot(30.0)
            gcs.run(StreamSetup(gcs.peer, {"GLOBAL_POSITION_INT": 10.0, "SIM_STATE": 10.0}))
            report = sync_fence(gcs.run, gcs.peer, fence.controller_plan().items, params,
                                lambda *a, **k: None)
            assert report.ok, report.problems
            gcs.run(ModeChange(gcs.peer, "GUIDED"))
            while True:
                try:
                    gcs.run(CommandLong(gcs.peer, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, (1,)))
                    break
                except Exception:  # noqa: BLE001 -- not ready yet: retry like a GCS would
                    end = time.monotonic() + 0.5
                    while time.monotonic() < end:
                        gcs.step()
            gcs.run(CommandLong(gcs.peer, mavlink.MAV_CMD_NAV_TAKEOFF, (0, 0, 0, 0, 0, 0, TAKEOFF_ALT_M)))
            while track.up_m < TAKEOFF_ALT_M - 1.0:
                gcs.step()
            end = time.monotonic() + 120.0
            next_send = 0.0
            while time.monotonic() < end and track.custom_mode == 4:
                gcs.step()
                if time.monotonic() >= next_send:
                    next_send = time.monotonic() + 0.2 / sim.speedup
                    gcs.send([mavlink.MAVLink_set_position_target_local_ned_message(
                        0, 1, 1, mavlink.MAV_FRAME_LOCAL_NED, VELOCITY_ONLY_MASK,
                        0, 0, 0, speed_mps, 0, 0, 0, 0, 0, 0, 0)])
            settle = time.monotonic() + 30.0 / sim.speedup
            while time.monotonic() < settle:
                gcs.step()
        finally:
            gcs.close()
    return {"speed_mps": speed_mps, "boundary_m": edge,
            "excursion_m": round(max(0.0, track.max_north_m - edge), 2)}


def in_process_costs(workdir: Path) -> dict:
    zones = workdir / "cost.geojson"
    rectangle_zone_file(zones, HOME[0], HOME[1], north_m=150, south_m=150, east_m=150, west_m=150)
    home = GeoPoint(*HOME)
    fence = compile_fence(operation_from_zone_files([zones], home=home), home=home,
                          now_utc=datetime.now(UTC))
    packet = Codec(1, 1).encode(mavlink.MAVLink_global_position_int_message(
        1000, 512710000, 5227000, 60000, 30000, 1000, 0, 0, 0), time.time())
    codec = Codec(254, 191)
    n = 5000
    t0 = time.perf_counter()
    for _ in range(n):
        codec.feed(packet, 0.0)
    decode_ms = (time.perf_counter() - t0) / n * 1000
    lat, lon = fence.frame.to_geo(0.0, 100.0)
    state = VehicleState(time_boot_ms=1000, lat_deg=lat, lon_deg=lon, alt_rel_home_m=30.0,
                         vel_north_mps=10.0, custom_mode=4, armed=True)
    kin = kinematic_state(state, fence.frame, KinematicState)
    m = 500
    t0 = time.perf_counter()
    for _ in range(m):
        decide(GuardState(), fence, kin, state, GuardConfig())
    decide_ms = (time.perf_counter() - t0) / m * 1000
    return {"decode_one_position_ms": round(decode_ms, 4), "guard_decide_ms": round(decide_ms, 3)}


def main_bench() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speedup", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="10 m/s only")
    args = parser.parse_args()
    speeds = [10.0] if args.quick else [5.0, 10.0, 15.0]
    simulator = functools.partial(SimulatorProcess, speedup=args.speedup, fast_boot=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the JSON
            assert main(["keys", "init", "--dir", str(root / "keys"), "--demo-evidence-key"]) == 0
        runs, baseline = [], []
        for i, speed in enumerate(speeds):
            runs.append(run_boundary_scenario(with_params(simulator, lean_params_for(speed)),
                                              _dir(root, f"agent{i}"), root / "keys",
                                              speed_mps=speed).as_record())
            baseline.append(controller_fence_only(simulator, _dir(root, f"fc{i}"), speed))
        if not args.quick:
            runs.append(run_boundary_scenario(simulator, _dir(root, "climb"), root / "keys",
                                              climb_mps=3.0).as_record())
        reactions = [r for run in runs for r in run["reaction_ms"]]
        print(json.dumps({
            "benchmark": "guard",
            "simulator_speedup": args.speedup,
            "agent": runs,
            "max_excursion_m": max(run["excursion_m"] for run in runs),
            "reaction_ms": {"median": round(statistics.median(reactions), 3),
                            "max": round(max(reactions), 3), "n": len(reactions)},
            "baseline_controller_fence_only": baseline,
            "in_process": in_process_costs(root),
        }, indent=2))
    return 0


def _dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    return path


if __name__ == "__main__":
    sys.exit(main_bench())
