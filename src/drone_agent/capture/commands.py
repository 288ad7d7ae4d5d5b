"""CLI subcommands of ``drone_agent.capture`` (registered by drone_agent.cli): ``redact``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``drone-agent`` parser."""
    redact = sub.add_parser(
        "redact",
        help="black out privacy zones in footage recorded elsewhere, using the flight's telemetry log",
        description="Post-hoc privacy masking: every privacy zone in the zone files is projected "
        "into each frame from the camera pose in the flight's MAVLink telemetry log and filled "
        "black (whole frame black where the pose is unknown), then the video is re-encoded as "
        "H.264 in a fragmented MP4.",
    )
    redact.add_argument("video", type=Path, metavar="VIDEO", help="the video to redact")
    redact.add_argument("--tlog", type=Path, required=True, metavar="FLIGHT.tlog",
                        help="the flight's MAVLink telemetry log")
    redact.add_argument("--zones", type=Path, action="append", required=True, metavar="ZONES.geojson",
                        help="zone file with kind=privacy zones (repeatable)")
    redact.add_argument("--camera", type=Path, required=True, metavar="CAMERA.toml",
                        help="TOML file with a [camera] table (resolution, hfov_deg or matrix, mount, "
                        "error budget); an operation profile works too")
    redact.add_argument("--time-offset", type=float, default=0.0, metavar="S",
                        help="seconds to add to the video's start time (its creation_time tag, else "
                        "the start of the log) to align it with the log (default 0)")
    redact.add_argument("--out", type=Path, required=True, metavar="OUT.mp4", help="output file")
    redact.set_defaults(func=run_redact)


def run_redact(args: argparse.Namespace) -> int:
    import shapely

    from drone_agent.capture.config import load_camera_file
    from drone_agent.capture.privacy import PrivacyMasker, zones_from_local
    from drone_agent.capture.redact import read_tlog, redact_video, zones_from_files
    from drone_agent.errors import InputError
    from drone_agent.geofence import GeoPoint, LocalFrame

    if not math.isfinite(args.time_offset):
        raise InputError(f"--time-offset {args.time_offset}: not a number", "give seconds, e.g. -2.5")
    if args.out.resolve() == args.video.resolve():
        raise InputError(f"--out {args.out} is the input video", "write the redacted copy to a new file")
    if not args.video.is_file():
        raise InputError(f"{args.video}: no such video", "give the path of the footage to redact")
    camera = load_camera_file(args.camera)
    telemetry = read_tlog(args.tlog)
    assert telemetry.home is not None and telemetry.first_utc is not None
    home = GeoPoint(telemetry.home.lat_deg, telemetry.home.lon_deg, telemetry.home.alt_amsl_m)
    frame = LocalFrame(home)
    zones = zones_from_local(
        zones_from_files(args.zones, frame),
        terrain_up_m=camera.terrain_up_m,
        structure_height_m=camera.structure_height_m,
    )
    keep = None
    if camera.mask_outside_area:
        areas = [polygon for _, polygon, _, _ in zones_from_files(args.zones, frame, "operation_area")]
        if not areas:
            raise InputError(
                f"{args.camera}: mask_outside_area is set but the zone files have no operation_area",
                "add the operation area to the zone files or set mask_outside_area = false",
            )
        keep = shapely.union_all(areas)
    if not zones and keep is None:
        raise InputError(
            f"{', '.join(map(str, args.zones))}: no privacy zones",
            "mark zones with properties.kind = privacy",
        )
    masker = PrivacyMasker(
        camera.camera_model(),
        zones,
        camera.uncertainty(),
        keep_inside=keep,
        keep_ground_up_m=camera.terrain_up_m,
    )
    track = telemetry.track(camera.mount_model(), frame.to_local, camera.pose_max_age_s)
    report = redact_video(
        args.video, args.out, telemetry, track, masker, camera.encoder_settings(), args.time_offset
    )
    print(f"redacted {report.frames} frames -> {report.out} (video start {report.video_start_utc})")
    print(f"privacy zones in view: {', '.join(report.zones) or 'none'}")
    if report.full_frame_masked:
        details = "; ".join(f"{reason}: {n}" for reason, n in report.reasons)
        print(f"whole frame blacked out: {report.full_frame_masked} frames ({details})")
    return 0
