"""MAVLink 2 signing: outgoing signed; flight/recording commands accepted only when correctly
signed; replays rejected by timestamp; telemetry from an unsigned vehicle still accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec, load_signing_key, signing_timestamp
from drone_agent.agent.command import CommandLong
from drone_agent.agent.session import Peer
from drone_agent.agent.testing import FakeAutopilot, MockClock, converse
from drone_agent.errors import InputError

KEY = bytes(range(32))
NOW = 1_795_000_000.0
VIDEO_START = mavlink.MAVLink_command_long_message(1, 100, 2500, 0, 0, 0, 0, 0, 0, 0, 0)


def test_outgoing_packets_are_signed_and_verify() -> None:
    agent, vehicle = Codec(254, 191, KEY), Codec(1, 1, KEY)
    data = agent.encode(VIDEO_START, NOW)
    assert data[2] & mavlink.MAVLINK_IFLAG_SIGNED
    msg = vehicle.feed(data, NOW)[0]
    assert msg.get_signed() and msg.command == 2500


def test_unsigned_or_wrongly_signed_command_is_dropped() -> None:
    agent = Codec(1, 100, KEY)
    assert agent.feed(Codec(255, 190).encode(VIDEO_START, NOW), NOW) == []
    assert agent.feed(Codec(255, 190, b"x" * 32).encode(VIDEO_START, NOW), NOW) == []
    assert agent.rejected_count == 2


def test_replayed_signed_command_is_rejected() -> None:
    sender, agent = Codec(255, 190, KEY), Codec(1, 100, KEY)
    packet = sender.encode(VIDEO_START, NOW)
    assert len(agent.feed(packet, NOW)) == 1
    assert agent.feed(packet, NOW + 1.0) == [] and agent.rejected_count == 1


def test_stale_new_stream_is_rejected() -> None:
    """A signed packet recorded more than a minute ago, from a stream we have not seen, is old."""
    old = Codec(255, 190, KEY).encode(VIDEO_START, NOW - 120.0)
    agent = Codec(1, 100, KEY)
    assert agent.feed(old, NOW) == [] and agent.rejected_count == 1


def test_unsigned_telemetry_still_accepted_when_keyed() -> None:
    agent = Codec(254, 191, KEY)
    position = mavlink.MAVLink_global_position_int_message(1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert agent.feed(Codec(1, 1).encode(position, NOW), NOW)[0].lat == 2
    item = mavlink.MAVLink_mission_item_int_message(254, 191, 0, 0, 5001, 0, 0, 3, 0, 0, 0, 1, 2, 0, 1)
    assert agent.feed(Codec(1, 1).encode(item, NOW), NOW)[0].command == 5001  # read-back data


@pytest.mark.parametrize("message", [
    mavlink.MAVLink_set_mode_message(1, 1, 4),
    mavlink.MAVLink_param_set_message(1, 100, b"CAM_MODE", 1.0, 9),
    mavlink.MAVLink_command_int_message(1, 100, 0, 2500, 0, 0, 0, 0, 0, 0, 0, 0, 0),
])
def test_every_protected_kind_needs_a_signature(message: mavlink.MAVLink_message) -> None:
    agent = Codec(1, 100, KEY)
    assert agent.feed(Codec(255, 190).encode(message, NOW), NOW) == []
    assert len(agent.feed(Codec(255, 190, KEY).encode(message, NOW), NOW)) == 1


def test_signed_session_against_signed_vehicle() -> None:
    vehicle = FakeAutopilot()
    cmd = CommandLong(Peer(1, 1, 254, 191), 400, (1,))
    transcript = converse(
        cmd, vehicle, MockClock(), agent_codec=Codec(254, 191, KEY), vehicle_codec=Codec(1, 1, KEY)
    )
    assert cmd.result() is None
    assert all(m.get_signed() for _, who, m in transcript if who == "agent")


def test_unkeyed_vehicle_drops_our_signed_commands_and_we_time_out() -> None:
    """The agent is keyed, the vehicle is keyed differently: commands never arrive."""
    cmd = CommandLong(Peer(1, 1, 254, 191), 400, (1,), retries=1)
    converse(cmd, FakeAutopilot(), MockClock(),
             agent_codec=Codec(254, 191, KEY), vehicle_codec=Codec(1, 1, b"z" * 32))
    with pytest.raises(Exception, match="no COMMAND_ACK"):
        cmd.result()


def test_signing_timestamp_epoch() -> None:
    assert signing_timestamp(1420070400.0) == 0
    assert signing_timestamp(1420070401.0) == 100_000


def test_key_file_raw_or_hex(tmp_path: Path) -> None:
    raw = tmp_path / "raw.key"
    raw.write_bytes(KEY)
    hexed = tmp_path / "hex.key"
    hexed.write_text(KEY.hex() + "\n")
    assert load_signing_key(raw) == KEY == load_signing_key(hexed)
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    with pytest.raises(InputError, match="expected 32 raw bytes or 64 hex digits"):
        load_signing_key(short)
    with pytest.raises(InputError, match="cannot read"):
        load_signing_key(tmp_path / "missing.key")
