"""Reading a real ArduCopter SITL telemetry log for `redact`: pose samples, home, clock mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from drone_agent.capture.camera import FixedMount
from drone_agent.capture.redact import read_tlog
from drone_agent.errors import InputError
from drone_agent.geofence import GeoPoint, LocalFrame


def test_real_sitl_log_gives_poses_home_and_clock(sitl_fixtures: Path) -> None:
    telemetry = read_tlog(sitl_fixtures / "guided_fly_north_10ms.tlog")
    home = telemetry.home
    assert home is not None
    # README: home 51.2705 N, 0.5227 E, 30 m AMSL (zeros before the EKF origin are skipped)
    assert home.lat_deg == pytest.approx(51.2705, abs=1e-4) and home.lon_deg == pytest.approx(0.5227, abs=1e-4)
    assert home.alt_amsl_m == pytest.approx(30.0, abs=1.0)
    frame = LocalFrame(GeoPoint(home.lat_deg, home.lon_deg, home.alt_amsl_m))
    track = telemetry.track(FixedMount(), frame.to_local, max_age_s=0.5)
    times = sorted(s.time_boot_ms for s in telemetry.samples)
    # the flight went ~114 m north at 30 m: the farthest pose is there, and it is known
    poses = [track.at(t).pose for t in range(times[0] + 1000, times[-1], 500)]
    known = [p for p in poses if p is not None]
    assert len(known) > 0.9 * len(poses)
    farthest = max(known, key=lambda p: p.position_enu_m[1])
    assert 105.0 < farthest.position_enu_m[1] < 125.0
    assert farthest.position_enu_m[2] == pytest.approx(30.0, abs=2.0)
    # the record clock maps onto time_boot_ms within the link delay
    first = telemetry.samples[0]
    assert telemetry.first_utc is not None
    boot = telemetry.clock.to_boot_ms(telemetry.first_utc.timestamp())
    assert abs(boot - first.time_boot_ms) < 200


def test_log_without_telemetry_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty.tlog").write_bytes(b"")
    with pytest.raises(InputError, match="no GLOBAL_POSITION_INT"):
        read_tlog(tmp_path / "empty.tlog")
    with pytest.raises(InputError, match="no such telemetry log"):
        read_tlog(tmp_path / "missing.tlog")
