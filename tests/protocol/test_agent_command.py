"""COMMAND_LONG/ACK with retries and one error per MAV_RESULT; mode changes confirmed by heartbeat."""

from __future__ import annotations

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.command import CommandLong, ModeChange
from drone_agent.agent.errors import CommandRejected, LinkTimeout
from drone_agent.agent.session import Peer
from drone_agent.agent.testing import FakeAutopilot, MockClock, converse
from drone_agent.errors import InputError

PEER = Peer(1, 1, 254, 191)
ARM = mavlink.MAV_CMD_COMPONENT_ARM_DISARM


def test_accepted_command_finishes_and_arms() -> None:
    vehicle = FakeAutopilot()
    cmd = CommandLong(PEER, ARM, (1,))
    transcript = converse(cmd, vehicle, MockClock())
    assert cmd.result() is None and vehicle.armed
    sent = [m for _, who, m in transcript if who == "agent"]
    assert sent[0].get_srcSystem() == 254 and sent[0].get_srcComponent() == 191


def test_lost_ack_is_retried_with_increasing_confirmation() -> None:
    dropped = []

    def drop_two_acks(direction: str, msg: mavlink.MAVLink_message) -> bool:
        if direction == "vehicle" and msg.get_type() == "COMMAND_ACK" and len(dropped) < 2:
            dropped.append(msg)
            return True
        return False

    vehicle = FakeAutopilot()
    clock = MockClock()
    cmd = CommandLong(PEER, ARM, (1,), timeout_s=1.0)
    converse(cmd, vehicle, clock, drop=drop_two_acks)
    assert cmd.result() is None
    confirmations = [m.confirmation for m in vehicle.received if m.get_type() == "COMMAND_LONG"]
    assert confirmations == [0, 1, 2] and clock() == pytest.approx(2.0)


def test_no_ack_at_all_is_a_timeout_after_all_retries() -> None:
    clock = MockClock()
    cmd = CommandLong(PEER, ARM, (1,), timeout_s=1.0, retries=3)
    converse(cmd, FakeAutopilot(ignore_ack=True), clock)
    with pytest.raises(LinkTimeout, match="MAV_CMD_COMPONENT_ARM_DISARM: no COMMAND_ACK after 4 tries"):
        cmd.result()
    assert clock() == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (mavlink.MAV_RESULT_TEMPORARILY_REJECTED, "temporarily rejected"),
        (mavlink.MAV_RESULT_DENIED, "denied"),
        (mavlink.MAV_RESULT_UNSUPPORTED, "unsupported"),
        (mavlink.MAV_RESULT_FAILED, "failed"),
        (6, "cancelled"),
        (mavlink.MAV_RESULT_COMMAND_LONG_ONLY, "must be sent as COMMAND_LONG"),
        (mavlink.MAV_RESULT_COMMAND_INT_ONLY, "must be sent as COMMAND_INT"),
        (9, "unsupported frame"),
    ],
)
def test_each_result_has_its_own_error(result: int, text: str) -> None:
    cmd = CommandLong(PEER, ARM, (1,))
    converse(cmd, FakeAutopilot(command_results={ARM: [result]}), MockClock())
    with pytest.raises(CommandRejected) as exc:
        cmd.result()
    assert exc.value.result == result and exc.value.exit_code == 4
    assert f"MAV_CMD_COMPONENT_ARM_DISARM {text} (MAV_RESULT {result})" in exc.value.message
    assert exc.value.hint


def test_failed_arm_carries_the_autopilot_statustext() -> None:
    cmd = CommandLong(PEER, ARM, (1,))
    converse(cmd, FakeAutopilot(command_results={ARM: [mavlink.MAV_RESULT_FAILED]}), MockClock())
    with pytest.raises(CommandRejected, match="failed .*: Arm: Need Position Estimate"):
        cmd.result()


def test_in_progress_waits_for_the_final_ack() -> None:
    cmd = CommandLong(PEER, ARM, (1,), timeout_s=1.0, in_progress_timeout_s=10.0)
    cmd.start(0.0)
    ack = mavlink.MAVLink_command_ack_message(ARM, mavlink.MAV_RESULT_IN_PROGRESS, 50, 0, 254, 191)
    ack._header = mavlink.MAVLink_header(ack.id, srcSystem=1, srcComponent=1)
    assert cmd.receive(ack, 0.5) == [] and not cmd.done
    assert cmd.poll(5.0) == []  # would have re-sent at 1.0 s without IN_PROGRESS
    done = mavlink.MAVLink_command_ack_message(ARM, mavlink.MAV_RESULT_ACCEPTED, 100, 0, 254, 191)
    done._header = ack._header
    cmd.receive(done, 6.0)
    assert cmd.result() is None


def test_ack_meant_for_another_client_is_ignored() -> None:
    cmd = CommandLong(PEER, ARM, (1,))
    cmd.start(0.0)
    theirs = mavlink.MAVLink_command_ack_message(ARM, mavlink.MAV_RESULT_DENIED, 0, 0, 255, 190)
    theirs._header = mavlink.MAVLink_header(theirs.id, srcSystem=1, srcComponent=1)
    cmd.receive(theirs, 0.1)
    assert not cmd.done


def test_replay_real_arducopter_arm_refusal_and_success(sitl_fixtures) -> None:  # noqa: ANN001
    """Replay ArduCopter's answers to the recorded arm attempts: early tries fail with FAILED and
    the pre-arm STATUSTEXT, the attempt at ~41.6 s succeeds."""
    log = mavutil.mavlink_connection(
        str(sitl_fixtures / "fence_upload_breach_rtl_10ms.tlog"), dialect="ardupilotmega"
    )
    messages = []
    while (msg := log.recv_match()) is not None:
        messages.append(msg)
    outcomes = []
    for i, msg in enumerate(messages):
        if msg.get_srcSystem() == 255 and msg.get_type() == "COMMAND_LONG" and msg.command == ARM:
            cmd = CommandLong(Peer(1, 1, 255, 190), ARM, (1,))
            cmd.start(msg._timestamp)
            for reply in messages[i + 1 :]:
                if reply.get_srcSystem() == 1:
                    cmd.receive(reply, reply._timestamp)
                if cmd.done:
                    break
            try:
                cmd.result()
                outcomes.append("ok")
            except CommandRejected as exc:
                assert exc.result == mavlink.MAV_RESULT_FAILED
                outcomes.append(exc.message)
    assert outcomes[-1] == "ok" and len(outcomes) > 5
    assert all(o.startswith("MAV_CMD_COMPONENT_ARM_DISARM failed") for o in outcomes[:-1])
    assert any("Arm: Need Position Estimate" in o for o in outcomes[:-1])


def test_mode_change_confirmed_by_heartbeat() -> None:
    vehicle = FakeAutopilot()
    clock = MockClock()
    change = ModeChange(PEER, "brake")
    converse(change, vehicle, clock)
    assert change.result() is None and vehicle.custom_mode == 17
    sent = [m for m in vehicle.received if m.get_type() == "COMMAND_LONG"]
    assert (sent[0].command, sent[0].param1, sent[0].param2) == (176, 1.0, 17.0)


def test_mode_acked_but_not_taken_fails_with_what_the_heartbeat_says() -> None:
    vehicle = FakeAutopilot(mode_sticks=False, custom_mode=4)
    change = ModeChange(PEER, "BRAKE", confirm_timeout_s=3.0)
    converse(change, vehicle, MockClock())
    with pytest.raises(LinkTimeout, match="BRAKE accepted but the heartbeat still reports GUIDED"):
        change.result()


def test_mode_refused() -> None:
    vehicle = FakeAutopilot(command_results={176: [mavlink.MAV_RESULT_DENIED]})
    change = ModeChange(PEER, "RTL")
    converse(change, vehicle, MockClock())
    with pytest.raises(CommandRejected, match="MAV_CMD_DO_SET_MODE denied"):
        change.result()


def test_unknown_mode_is_input_error() -> None:
    with pytest.raises(InputError, match="'HOVER' is not an ArduCopter mode"):
        ModeChange(PEER, "HOVER")
