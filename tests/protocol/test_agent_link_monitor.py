"""Autopilot identification from the HEARTBEAT, heartbeat out, link loss within 2 s, recovery;
stream requests with fallback and the rate check."""

from __future__ import annotations

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec
from drone_agent.agent.heartbeat import LinkMonitor
from drone_agent.agent.session import Peer
from drone_agent.agent.streams import RateCheck, StreamSetup
from drone_agent.agent.testing import FakeAutopilot, MockClock, converse
from drone_agent.errors import VehicleError

PEER = Peer(1, 1, 254, 191)


def wire(system: int, component: int, msg: mavlink.MAVLink_message) -> mavlink.MAVLink_message:
    """The message as it arrives: encoded by its sender, decoded by us."""
    return Codec(254, 191).feed(Codec(system, component).encode(msg, 0.0), 0.0)[0]


def heartbeat(kind: int, autopilot: int, custom_mode: int = 0) -> mavlink.MAVLink_message:
    return mavlink.MAVLink_heartbeat_message(kind, autopilot, 0, custom_mode, 3, 3)


GCS_HB = heartbeat(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID)
COPTER_HB = heartbeat(mavlink.MAV_TYPE_QUADROTOR, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA)


def test_autopilot_identified_from_packet_ids_not_assumed() -> None:
    monitor = LinkMonitor()
    monitor.receive(wire(255, 190, GCS_HB), 0.0)
    monitor.receive(wire(7, 1, heartbeat(mavlink.MAV_TYPE_CAMERA, mavlink.MAV_AUTOPILOT_INVALID)), 0.1)
    assert monitor.autopilot is None
    monitor.receive(wire(7, 1, COPTER_HB), 0.2)
    ap = monitor.autopilot
    assert ap is not None and (ap.system_id, ap.component_id) == (7, 1)
    assert ap.is_ardupilot and ap.vehicle_type == mavlink.MAV_TYPE_QUADROTOR
    assert ap.mavlink_version == 2
    assert [e.kind for e in monitor.drain_events()] == ["link_up"]


def test_heartbeat_out_at_1_hz_as_onboard_controller() -> None:
    monitor = LinkMonitor()
    sent = [(t / 10, m) for t in range(0, 35) for m in monitor.poll(t / 10)]
    assert [t for t, _ in sent] == [0.0, 1.0, 2.0, 3.0]
    assert sent[0][1].type == mavlink.MAV_TYPE_ONBOARD_CONTROLLER
    assert sent[0][1].autopilot == mavlink.MAV_AUTOPILOT_INVALID


def test_link_loss_detected_within_2_s_and_recovery_reported() -> None:
    monitor = LinkMonitor(timeout_s=1.5)
    clock = MockClock()
    monitor.receive(wire(1, 1, COPTER_HB), clock())
    monitor.drain_events()
    position = wire(1, 1, mavlink.MAVLink_global_position_int_message(0, 0, 0, 0, 0, 0, 0, 0, 0))
    for _ in range(10):  # 10 Hz telemetry for one second
        clock.advance(0.1)
        monitor.receive(position, clock())
        monitor.poll(clock())
    last_packet_s = clock()
    while monitor.up:  # silence; the adapter polls at least every 0.25 s
        clock.advance(0.25)
        monitor.poll(clock())
    lost = monitor.drain_events()
    assert [e.kind for e in lost] == ["link_lost"]
    assert lost[0].time_s - last_packet_s <= 2.0
    monitor.receive(wire(255, 190, GCS_HB), clock())  # a GCS does not restore the vehicle link
    assert not monitor.up
    clock.advance(3.0)
    monitor.receive(position, clock())
    restored = monitor.drain_events()
    assert [e.kind for e in restored] == ["link_restored"] and monitor.up
    assert restored[0].silence_s == pytest.approx(clock() - last_packet_s)


def test_streams_asked_with_set_message_interval() -> None:
    vehicle = FakeAutopilot()
    setup = StreamSetup(PEER, {"GLOBAL_POSITION_INT": 10.0, "FENCE_STATUS": 1.0})
    converse(setup, vehicle, MockClock())
    assert setup.result().methods == {"GLOBAL_POSITION_INT": "interval", "FENCE_STATUS": "interval"}
    asked = [(m.param1, m.param2) for m in vehicle.received if m.get_type() == "COMMAND_LONG"]
    assert asked == [(33.0, 100000.0), (162.0, 1000000.0)]


def test_streams_fall_back_to_request_data_stream_when_unsupported() -> None:
    vehicle = FakeAutopilot(command_results={511: [mavlink.MAV_RESULT_UNSUPPORTED]})
    setup = StreamSetup(PEER, {"GLOBAL_POSITION_INT": 10.0, "ATTITUDE": 10.0, "SYS_STATUS": 2.0})
    converse(setup, vehicle, MockClock())
    assert set(setup.result().methods.values()) == {"legacy"}
    legacy = {(m.req_stream_id, m.req_message_rate) for m in vehicle.received
              if m.get_type() == "REQUEST_DATA_STREAM"}
    assert legacy == {(mavlink.MAV_DATA_STREAM_POSITION, 10), (mavlink.MAV_DATA_STREAM_EXTRA1, 10),
                      (mavlink.MAV_DATA_STREAM_EXTENDED_STATUS, 2)}


def test_one_refused_stream_does_not_stop_the_others() -> None:
    vehicle = FakeAutopilot(command_results={511: [mavlink.MAV_RESULT_FAILED]})
    setup = StreamSetup(PEER, {"TERRAIN_REPORT": 1.0, "ATTITUDE": 10.0})
    converse(setup, vehicle, MockClock())
    methods = setup.result().methods
    assert methods["TERRAIN_REPORT"].startswith("refused") and methods["ATTITUDE"] == "interval"


def _feed_rate(check: RateCheck, hz: float, seconds: float) -> None:
    position = wire(1, 1, mavlink.MAVLink_global_position_int_message(0, 0, 0, 0, 0, 0, 0, 0, 0))
    check.start(0.0)
    t = 0.0
    while not check.done:
        t += 1.0 / hz
        check.receive(position, t)
        check.poll(t)


def test_rate_check_passes_at_asked_rate_and_fails_when_slow() -> None:
    ok = RateCheck(PEER, {"GLOBAL_POSITION_INT": 10.0}, window_s=2.0)
    _feed_rate(ok, 10.0, 2.0)
    assert ok.result()["GLOBAL_POSITION_INT"] == pytest.approx(10.0, rel=0.1)
    slow = RateCheck(PEER, {"GLOBAL_POSITION_INT": 10.0}, window_s=2.0)
    _feed_rate(slow, 4.0, 2.0)
    with pytest.raises(VehicleError, match=r"GLOBAL_POSITION_INT 4\.0 Hz \(asked 10\)"):
        slow.result()
