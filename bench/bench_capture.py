"""Capture benchmarks (JSON on stdout): privacy masking cost per frame at 1080p and 4K, and the full
recording pipeline (mask + encode + segment) against bare encoding of the same frames, measured in
the same run, on one core (libx264 threads=1, OpenCV threads=1; timed in process CPU seconds so
that other load on a shared machine does not distort the ratio), plus peak memory of a recording
process against a process that only imports the same libraries.

    python3 bench/bench_capture.py [--frames 300] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from shapely.geometry import Polygon, box

from drone_agent.capture.camera import CameraModel, GimbalMount
from drone_agent.capture.encoder import EncoderSettings, SegmentEncoder
from drone_agent.capture.pose import PoseTrack
from drone_agent.capture.privacy import PrivacyMasker, PrivacyZone
from drone_agent.capture.recorder import BootClock, Recorder
from drone_agent.capture.testing import FlatEarthFrame, TruthPose, telemetry
from drone_agent.capture.trigger import EvidenceTrigger

FRAME = FlatEarthFrame(51.2705, 0.5227)
ZONES = (
    PrivacyZone("garden", Polygon([(10, 10), (45, 12), (40, 30), (28, 22), (15, 40)]), 0.0, 0.0),
    PrivacyZone("house", box(-35, -12, -20, 6), 0.0, 8.0),
    PrivacyZone("school", Polygon([(-15, -60), (25, -55), (20, -30), (-10, -35)]), 0.0, 3.0),
)
POSE = TruthPose(0.0, -45.0, 40.0, yaw_deg=10.0, gimbal_pitch_deg=-50.0)
FPS = 30
# Process CPU time: the machine is shared, and "sustained on one core" is a statement about CPU
# work per frame; libx264 runs with threads=1 so the process's CPU time is that one core's.
CLOCK = time.process_time
SEGMENT_S = 4.0


def _track(t_end_ms: int) -> PoseTrack:
    track = PoseTrack(GimbalMount(), FRAME.to_local, max_age_s=1.0, history_s=1e6)
    for t in range(0, t_end_ms + 101, 100):
        for msg in telemetry(POSE, FRAME, t):
            track.add_message(msg)
    return track


class Frames:
    """Moving synthetic 'video': windows into a larger textured canvas (generation not timed)."""

    def __init__(self, width: int, height: int) -> None:
        rng = np.random.default_rng(1)
        small = rng.integers(40, 220, size=(height // 8 + 40, width // 8 + 80, 3), dtype=np.uint8)
        self.canvas = cv2.resize(small, None, fx=8, fy=8, interpolation=cv2.INTER_LINEAR)
        self.width, self.height = width, height

    def get(self, i: int) -> np.ndarray:
        dx, dy = (i * 3) % 600, (i * 2) % 300
        return np.ascontiguousarray(self.canvas[dy : dy + self.height, dx : dx + self.width])


def bench_masking(width: int, height: int, repeats: int) -> dict:
    camera = CameraModel.from_hfov(width, height, 82.0)
    masker = PrivacyMasker(camera, ZONES)
    estimate = _track(2000).at(1000)
    frame = Frames(width, height).get(0)
    result = masker.apply(frame.copy(), estimate)
    t0 = CLOCK()
    for _ in range(repeats):
        masker.apply(frame, estimate)
    mask_ms = (CLOCK() - t0) * 1000 / repeats
    t0 = CLOCK()
    for _ in range(repeats):
        cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
    convert_ms = (CLOCK() - t0) * 1000 / repeats
    return {
        "resolution": f"{width}x{height}",
        "mask_ms_per_frame": round(mask_ms, 3),
        "baseline_bgr_to_i420_ms_per_frame": round(convert_ms, 3),
        "masked_fraction": round(result.fraction, 3),
        "zones_in_view": list(result.zones),
        "pad_px": round(result.pad_px, 1),
    }


def _bare_encode(source: Frames, frames: int, settings: EncoderSettings, premask=None) -> float:
    """Seconds spent encoding (and segmenting) the frames; ``premask`` runs untimed first."""
    width, height = source.width, source.height
    spent = 0.0
    encoder = SegmentEncoder(width, height, settings)
    for i in range(frames):
        frame = source.get(i)
        if premask is not None:
            premask(frame)
        t_ms = i * 1000 // FPS
        t0 = CLOCK()
        if t_ms and t_ms % int(SEGMENT_S * 1000) < 1000 // FPS:
            encoder.close()
            encoder = SegmentEncoder(width, height, settings)
        encoder.add(frame, t_ms)
        spent += CLOCK() - t0
    t0 = CLOCK()
    encoder.close()
    return spent + CLOCK() - t0


def _pipeline_encode(source: Frames, frames: int, settings: EncoderSettings, masker, track) -> tuple[float, dict]:
    """Seconds spent in Recorder.on_frame/close (pose lookup, mask, encode, segment, sink)."""
    sizes: list[int] = []
    trigger = EvidenceTrigger()
    recorder = Recorder(
        masker, track, trigger, lambda data, meta: sizes.append(len(data)), BootClock(0),
        segment_s=SEGMENT_S, encoder=settings,
    )
    trigger.start("pilot", datetime.now(timezone.utc))
    spent = 0.0
    fraction = 0.0
    for i in range(frames):
        frame = source.get(i)
        t0 = CLOCK()
        result = recorder.on_frame(i * 1000 // FPS, frame)
        spent += CLOCK() - t0
        fraction += result.fraction if result else 0.0
    t0 = CLOCK()
    recorder.close()
    spent += CLOCK() - t0
    return spent, {
        "segments": len(sizes),
        "mean_masked_fraction": round(fraction / frames, 3),
        "mbit_per_s": round(sum(sizes) * 8 / (frames / FPS) / 1e6, 2),
    }


def bench_pipeline(frames: int, threads: int, rounds: int = 1) -> dict:
    """Best of ``rounds`` interleaved passes each of bare, bare-on-premasked and pipeline."""
    width, height = 1920, 1080
    source = Frames(width, height)
    settings = EncoderSettings(fps=FPS, threads=threads)
    camera = CameraModel.from_hfov(width, height, 82.0)
    track = _track(frames * 1000 // FPS)
    masker = PrivacyMasker(camera, ZONES)
    estimate = track.at(1000)
    _bare_encode(source, min(frames, 30), settings)  # warm-up
    bare_s = premasked_s = pipe_s = float("inf")
    info: dict = {}
    for _ in range(rounds):
        bare_s = min(bare_s, _bare_encode(source, frames, settings))
        premasked_s = min(premasked_s, _bare_encode(source, frames, settings, lambda f: masker.apply(f, estimate)))
        spent, info = _pipeline_encode(source, frames, settings, masker, track)
        pipe_s = min(pipe_s, spent)
    pipe_fps, bare_fps, premasked_fps = frames / pipe_s, frames / bare_s, frames / premasked_s
    return {
        "resolution": f"{width}x{height}",
        "frames": frames,
        "rounds_best_of": rounds,
        "x264_threads": threads or "auto",
        "pipeline_fps": round(pipe_fps, 1),
        "baseline_bare_encode_fps": round(bare_fps, 1),
        "pipeline_vs_bare": round(pipe_fps / bare_fps, 3),
        "baseline_bare_encode_of_premasked_frames_fps": round(premasked_fps, 1),
        "pipeline_vs_bare_premasked": round(pipe_fps / premasked_fps, 3),
        "target_pipeline_vs_bare": 0.9,
        "realtime_factor_at_30fps": round(pipe_fps / FPS, 2),
        "sustains_1080p30_at_1_5x": pipe_fps >= 1.5 * FPS,
        **info,
    }


def _child_peak_mb(code: str) -> float:
    """Peak resident memory (VmHWM, which unlike ru_maxrss does not carry the forking parent's
    size across exec) of a fresh Python process running ``code``."""
    probe = code + (
        "\nprint([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024.0


def bench_memory(frames: int) -> dict:
    """Peak RSS of a process recording 1080p (frame generation included) vs one only importing."""
    importing = _child_peak_mb(
        "import numpy, cv2, av, shapely, pymavlink.dialects.v20.ardupilotmega\n"
        "import drone_agent.capture.recorder, drone_agent.capture.privacy"
    )
    recording = _child_peak_mb(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import cv2\ncv2.setNumThreads(1)\n"
        f"import bench_capture as b\nb.bench_pipeline({frames}, 1)"
    )
    return {
        "peak_rss_recording_1080p_mb": round(recording, 1),
        "baseline_peak_rss_imports_only_mb": round(importing, 1),
        "target_mb": 300,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats")
    args = parser.parse_args()
    frames = 60 if args.quick else args.frames
    repeats = 20 if args.quick else 100
    cv2.setNumThreads(1)
    out = {
        "bench": "capture",
        "cpu_threads_used": 1,
        "masking": [bench_masking(1920, 1080, repeats), bench_masking(3840, 2160, repeats // 2)],
        "memory": bench_memory(min(frames, 150)),
        "pipeline_1080p30": bench_pipeline(frames, threads=1, rounds=1 if args.quick else 3),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
