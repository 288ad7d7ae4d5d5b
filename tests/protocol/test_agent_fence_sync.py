"""Fence upload → download → compare over the mission protocol, against a scripted peer and
against the real ArduCopter conversation recorded in fence_upload_breach_rtl_10ms.tlog."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.errors import FenceSyncFailed
from drone_agent.agent.fence_sync import (
    FenceDownload,
    FenceUpload,
    FenceWireItem,
    compare_fence,
    fence_items_to_wire,
)
from drone_agent.agent.session import Peer
from drone_agent.agent.testing import FakeAutopilot, MockClock, converse
from drone_agent.errors import InputError

PEER = Peer(1, 1, 254, 191)


@dataclass(frozen=True)
class Item:
    kind: str
    points_deg: tuple[tuple[float, float], ...]
    radius_m: float | None = None


AREA = Item(
    "inclusion_polygon",
    ((51.2718474, 0.5227), (51.2708593, 0.5248537), (51.2691525, 0.5241358), (51.2718474, 0.5227)),
)
SCHOOL = Item("exclusion_circle", ((51.2705, 0.5244229),), 40.0)


def test_items_flatten_to_wire_with_vertex_count_and_radius() -> None:
    wire = fence_items_to_wire([AREA, SCHOOL])
    assert [w.command for w in wire] == [5001, 5001, 5001, 5004]
    assert [w.param1 for w in wire] == [3.0, 3.0, 3.0, 40.0]  # closing vertex dropped
    assert wire[0].lat_e7 == 512718474 and wire[3].lon_e7 == 5244229


def test_bad_items_are_input_errors() -> None:
    with pytest.raises(InputError, match="vertices"):
        fence_items_to_wire([Item("inclusion_polygon", ((51.0, 0.5), (51.1, 0.5)))])
    with pytest.raises(InputError, match="radius"):
        fence_items_to_wire([Item("exclusion_circle", ((51.0, 0.5),), 0.0)])


@pytest.mark.parametrize("request_int", [False, True])
def test_upload_then_download_reads_back_identical(request_int: bool) -> None:
    wire = fence_items_to_wire([AREA, SCHOOL])
    vehicle = FakeAutopilot(request_int=request_int)
    clock = MockClock()
    upload = FenceUpload(PEER, wire)
    converse(upload, vehicle, clock)
    assert upload.result() is None and upload.requested == {0, 1, 2, 3}
    download = FenceDownload(PEER)
    transcript = converse(download, vehicle, clock)
    assert compare_fence(wire, download.result()) == []
    assert transcript[-1][2].get_type() == "MISSION_ACK"  # the agent closes the download


def test_rejected_upload_names_the_vehicle_reason() -> None:
    bad = (FenceWireItem(5001, 2.0, 512705898, 5228435), FenceWireItem(5001, 2.0, 512706796, 5228435))
    upload = FenceUpload(PEER, bad)
    converse(upload, FakeAutopilot(), MockClock())
    with pytest.raises(FenceSyncFailed) as exc:
        upload.result()
    assert exc.value.message == (
        "fence upload rejected by the vehicle (MAV_MISSION_ERROR): Invalid vertex count (2)")


def test_altered_read_back_is_reported_item_by_item() -> None:
    def shift_first(items: list) -> list:
        items[0].x += 10  # 1e-6 degrees: ~11 cm
        return items

    wire = fence_items_to_wire([AREA, SCHOOL])
    vehicle = FakeAutopilot(fence_alter=shift_first)
    clock = MockClock()
    converse(FenceUpload(PEER, wire), vehicle, clock)
    download = FenceDownload(PEER)
    converse(download, vehicle, clock)
    problems = compare_fence(wire, download.result())
    assert len(problems) == 1 and problems[0].startswith("item 0: sent inclusion_polygon")
    assert compare_fence(wire, download.result()[:-1])[0] == "4 items uploaded, 3 read back"


def test_lost_requests_are_retried_then_the_upload_times_out() -> None:
    wire = fence_items_to_wire([SCHOOL])
    lost = {"count": 0}

    def drop_first_count(direction: str, msg: mavlink.MAVLink_message) -> bool:
        if direction == "agent" and msg.get_type() == "MISSION_COUNT" and lost["count"] == 0:
            lost["count"] += 1
            return True
        return False

    clock = MockClock()
    upload = FenceUpload(PEER, wire, timeout_s=1.5)
    converse(upload, FakeAutopilot(), clock, drop=drop_first_count)
    assert upload.result() is None and clock() == pytest.approx(1.5)

    silent = FenceUpload(PEER, wire, timeout_s=1.5, retries=5)
    converse(silent, FakeAutopilot(silent=True), clock)
    with pytest.raises(FenceSyncFailed, match="timed out after 0 of 1"):
        silent.result()
    assert clock() == pytest.approx(1.5 + 6 * 1.5)


def test_download_times_out_when_vehicle_stops_answering() -> None:
    vehicle = FakeAutopilot()
    clock = MockClock()
    converse(FenceUpload(PEER, fence_items_to_wire([AREA])), vehicle, clock)
    download = FenceDownload(PEER, retries=2)

    def drop_items(direction: str, msg: mavlink.MAVLink_message) -> bool:
        return direction == "vehicle" and msg.get_type() == "MISSION_ITEM_INT" and msg.seq == 1

    converse(download, vehicle, clock, drop=drop_items)
    with pytest.raises(FenceSyncFailed, match="after 1 of 3"):
        download.result()


def _tlog_messages(path):  # noqa: ANN001, ANN202
    log = mavutil.mavlink_connection(str(path), dialect="ardupilotmega")
    while (msg := log.recv_match()) is not None:
        yield msg


def test_replay_real_arducopter_fence_upload(sitl_fixtures) -> None:  # noqa: ANN001
    """Feed ArduCopter's side of the first upload to our session; our answers must match the
    ground station's recorded answers item for item, and the ACK must complete the upload."""
    messages = list(_tlog_messages(sitl_fixtures / "fence_upload_breach_rtl_10ms.tlog"))
    gcs_items = []
    for msg in messages:
        if msg.get_type() == "MISSION_ITEM_INT" and msg.get_srcSystem() == 255:
            gcs_items.append(msg)
            if len(gcs_items) == 10:
                break
    wire = tuple(FenceWireItem(m.command, m.param1, m.x, m.y) for m in gcs_items)
    peer = Peer(1, 1, 255, 190)  # the recorded ground station's ids, so target fields match
    upload = FenceUpload(peer, wire)
    sent = upload.start(0.0)
    assert sent[0].get_type() == "MISSION_COUNT" and sent[0].count == 10
    answered = []
    for msg in messages:
        if msg.get_srcSystem() != 1 or upload.done:
            continue
        for out in upload.receive(msg, msg._timestamp):
            answered.append(out)
    assert upload.result() is None
    assert [(m.seq, m.command, m.param1, m.x, m.y) for m in answered] == [
        (m.seq, m.command, m.param1, m.x, m.y) for m in gcs_items
    ]


def test_replay_real_arducopter_fence_download(sitl_fixtures) -> None:  # noqa: ANN001
    messages = list(_tlog_messages(sitl_fixtures / "fence_upload_breach_rtl_10ms.tlog"))
    start = next(
        i for i, m in enumerate(messages) if m.get_type() == "MISSION_REQUEST_LIST"
    )
    download = FenceDownload(Peer(1, 1, 255, 190))
    download.start(0.0)
    for msg in messages[start:]:
        if msg.get_srcSystem() == 1 and not download.done:
            download.receive(msg, msg._timestamp)
    read_back = download.result()
    assert len(read_back) == 10 and read_back[5] == FenceWireItem(5004, 40.0, 512705000, 5244229)


def test_replay_real_arducopter_rejection_reason(sitl_fixtures) -> None:  # noqa: ANN001
    """ArduCopter rejects the 2-vertex polygon with MISSION_ACK 1 and explains itself in a
    STATUSTEXT that arrives after the ACK: the error must carry that explanation."""
    messages = list(_tlog_messages(sitl_fixtures / "fence_upload_breach_rtl_10ms.tlog"))
    start = next(i for i, m in enumerate(messages)
                 if m.get_type() == "MISSION_COUNT" and m.get_srcSystem() == 255 and m.count == 2)
    bad = tuple(FenceWireItem(m.command, m.param1, m.x, m.y) for m in messages[start:]
                if m.get_type() == "MISSION_ITEM_INT" and m.get_srcSystem() == 255)[:2]
    upload = FenceUpload(Peer(1, 1, 255, 190), bad)
    upload.start(messages[start]._timestamp)
    for msg in messages[start + 1:]:
        if upload.done:
            break
        if msg.get_srcSystem() == 1:
            upload.receive(msg, msg._timestamp)
        upload.poll(msg._timestamp)
    with pytest.raises(FenceSyncFailed) as exc:
        upload.result()
    assert exc.value.message == (
        "fence upload rejected by the vehicle (MAV_MISSION_ERROR): Invalid vertex count (2)")
