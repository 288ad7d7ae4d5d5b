"""Benchmark of the simulator: CPU share of the simulator process and camera render time.

Prints JSON. Figures and their baselines, measured in the same run:

* ``sim_cpu_fraction_speedup10``: CPU (fraction of one core) used by the simulator process at
  speed-up 10 with an agent and a GCS client both asking for the fixture's message rates plus
  SIM_STATE at 25 Hz and gimbal status at 10 Hz; ``baseline_sim_cpu_fraction_speedup1``: the same at
  speed-up 1 (so the cost of the speed-up is visible).
* ``camera_render_ms_640x480`` (normal) and ``camera_render_ground_truth_ms_640x480`` (one privacy
  zone in view); ``baseline_remap_ms_640x480``: cv2.remap of the same image size alone, the floor
  any texture-sampling renderer pays.

Run: ``python3 bench/bench_sim.py``.
"""

from __future__ import annotations

import json
import os
import time

import cv2
import numpy as np
from pymavlink import mavutil

from drone_agent.sim import SimulatorProcess
from drone_agent.sim.camera import CameraPose, CameraSpec, SyntheticCamera
from drone_agent.sim.geo import Origin
from drone_agent.sim.ground import make_ground_texture

HOME = (51.2705, 0.5227, 30.0)
RATES_US = {33: 1e5, 30: 1e5, 74: 2.5e5, 1: 5e5, 24: 5e5, 193: 5e5, 136: 1e6, 162: 1e6,
            242: 1e6, 108: 4e4, 285: 1e5}


def sim_cpu(speedup: float, seconds: float = 6.0) -> float:
    with SimulatorProcess(HOME, speedup=speedup, fast_boot=True) as sim:
        links = [mavutil.mavlink_connection(u, source_system=255)
                 for u in (sim.agent_connection, sim.gcs_connection)]
        for m in links:
            m.wait_heartbeat(timeout=10)
            for mid, us in RATES_US.items():
                m.mav.command_long_send(1, 1, 511, 0, mid, us, 0, 0, 0, 0, 0)
        time.sleep(1.0)

        def cpu_s() -> float:
            with open(f"/proc/{sim.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        c0, t0 = cpu_s(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            for m in links:
                while m.recv_msg() is not None:
                    pass
            time.sleep(0.005)
        fraction = (cpu_s() - c0) / (time.monotonic() - t0)
        for m in links:
            m.close()
        return fraction


def ms_per(fn, n: int = 30) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1000


def main() -> None:
    o = Origin(*HOME)
    zone = [[o.to_geo(n, e)[::-1] for n, e in [(0, -10), (20, -10), (20, 10), (0, 10), (0, -10)]]]
    spec = CameraSpec(640, 480, 78, 10)
    normal = SyntheticCamera(HOME, spec, seed=1)
    truth = SyntheticCamera(HOME, spec, seed=1, privacy_polygons=[zone], ground_truth=True)
    pose = CameraPose(0, 0, 90, 20, -70)
    tex = make_ground_texture(1)
    mx = np.random.default_rng(0).uniform(0, 2000, (480, 640)).astype(np.float32)
    my = np.random.default_rng(1).uniform(0, 2000, (480, 640)).astype(np.float32)
    out = {
        "sim_cpu_fraction_speedup10": round(sim_cpu(10.0), 3),
        "baseline_sim_cpu_fraction_speedup1": round(sim_cpu(1.0), 3),
        "camera_render_ms_640x480": round(ms_per(lambda: normal.render(pose)), 2),
        "camera_render_ground_truth_ms_640x480": round(ms_per(lambda: truth.render(pose)), 2),
        "baseline_remap_ms_640x480": round(ms_per(
            lambda: cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)), 2),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
