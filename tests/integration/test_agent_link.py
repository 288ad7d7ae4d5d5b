"""The IO adapter over real sockets (TCP and UDP on 127.0.0.1) against the scripted peer run in
a thread: identification, heartbeats out, sessions, link loss and recovery, the telemetry log."""

from __future__ import annotations

import io
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.agent.codec import Codec
from drone_agent.agent.command import ModeChange
from drone_agent.agent.fence_sync import FenceDownload, FenceUpload, FenceWireItem, compare_fence
from drone_agent.agent.heartbeat import LinkMonitor
from drone_agent.agent.link import HostedComponent, Link
from drone_agent.agent.testing import FakeAutopilot
from drone_agent.agent.transport import open_transport, parse_connection
from drone_agent.errors import VehicleError

pytestmark = pytest.mark.slow

FENCE = (FenceWireItem(5001, 3.0, 512718474, 5227000), FenceWireItem(5001, 3.0, 512708593, 5248537),
         FenceWireItem(5001, 3.0, 512691525, 5241358), FenceWireItem(5004, 40.0, 512705000, 5244229))


class PeerThread:
    """Serve a FakeAutopilot on a socket; 10 Hz GLOBAL_POSITION_INT; ``silent`` mutes it. Over TCP
    it accepts again after :meth:`drop_connection` (like SITL or a telemetry bridge)."""

    def __init__(self, kind: str) -> None:
        self.vehicle = FakeAutopilot(heartbeat_interval_s=0.5)
        self.codec = Codec(1, 1)
        self.kind = kind
        self.outbox: list = []  # messages the "vehicle" side sends once (e.g. routed commands)
        self.connections = 0
        self._down_s = 0.0
        self._stop = threading.Event()
        self._drop = threading.Event()
        if kind == "tcp":
            self.server = socket.create_server(("127.0.0.1", 0))
            self.connection = f"tcp:127.0.0.1:{self.server.getsockname()[1]}"
        else:
            self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.server.bind(("127.0.0.1", 0))
            self.connection = f"udpout:127.0.0.1:{self.server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def drop_connection(self, down_s: float = 0.0) -> None:
        """Close the current TCP connection from the vehicle's side; serve the next one after
        ``down_s`` (a client connecting meanwhile waits in the listen backlog, hearing nothing)."""
        self._down_s = down_s
        self._drop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._serve_one()
            if self.kind != "tcp":
                return

    def _serve_one(self) -> None:
        if self.kind == "tcp":
            self.server.settimeout(0.1)
            try:
                sock, _ = self.server.accept()
            except TimeoutError:
                return
            self.connections += 1
            self._drop.clear()
            send = sock.sendall
            recv = lambda: sock.recv(65536)  # noqa: E731
        else:
            sock = self.server
            peer: list = []
            send = lambda data: peer and sock.sendto(data, peer[0])  # noqa: E731

            def recv() -> bytes:
                data, address = sock.recvfrom(65536)
                peer[:] = [address]
                return data
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        next_position = 0.0
        while not self._stop.is_set() and not self._drop.is_set():
            now = time.monotonic()
            out = []
            if selector.select(0.02):
                try:
                    data = recv()
                except OSError:
                    break
                if not data:
                    break
                for msg in self.codec.feed(data, time.time()):
                    out += self.vehicle.receive(msg, now)
            out += self.vehicle.poll(now)
            while self.outbox and not self.vehicle.silent:
                out.append(self.outbox.pop(0))
            if now >= next_position and not self.vehicle.silent:
                next_position = now + 0.1
                out.append(mavlink.MAVLink_global_position_int_message(
                    int(now * 1000) % 2**32, 512705000, 5227000, 30000, 0, 0, 0, 0, 0))
            try:
                for msg in out:
                    send(self.codec.encode(msg, time.time()))
            except OSError:
                break
        selector.close()
        if self.kind == "tcp":
            sock.close()
            self._stop.wait(self._down_s if self._drop.is_set() else 0.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


@pytest.fixture(params=["tcp", "udp"])
def peer(request: pytest.FixtureRequest) -> Iterator[PeerThread]:
    thread = PeerThread(request.param)
    yield thread
    thread.close()


def open_link(peer: PeerThread, tlog: io.BytesIO | None = None) -> Link:
    transport = open_transport(parse_connection(peer.connection))
    return Link(transport, Codec(254, 191), monitor=LinkMonitor(timeout_s=1.0), tlog=tlog)


def test_identify_command_and_fence_round_trip(peer: PeerThread, tmp_path) -> None:  # noqa: ANN001
    tlog = io.BytesIO()
    link = open_link(peer, tlog)
    try:
        autopilot = link.wait_for_autopilot(5.0)
        assert (autopilot.system_id, autopilot.component_id) == (1, 1)
        link.run(ModeChange(link.peer, "GUIDED"), timeout_s=10.0)
        link.run(FenceUpload(link.peer, FENCE), timeout_s=10.0)
        assert compare_fence(FENCE, link.run(FenceDownload(link.peer), timeout_s=10.0)) == []
        assert link.state.lat_deg == pytest.approx(51.2705) and link.state.mode == "GUIDED"
        end = time.monotonic() + 2.2
        while time.monotonic() < end:
            link.step()
    finally:
        link.close()
    beats = [m for m in peer.vehicle.received if m.get_type() == "HEARTBEAT"]
    assert len(beats) >= 2 and beats[0].type == mavlink.MAV_TYPE_ONBOARD_CONTROLLER
    path = tmp_path / "telemetry.tlog"
    path.write_bytes(tlog.getvalue())
    kinds = {"agent": set(), "vehicle": set()}
    log = mavutil.mavlink_connection(str(path), dialect="ardupilotmega")
    while (msg := log.recv_match()) is not None:
        kinds["agent" if msg.get_srcSystem() == 254 else "vehicle"].add(msg.get_type())
    assert {"HEARTBEAT", "COMMAND_LONG", "MISSION_COUNT", "MISSION_ITEM_INT"} <= kinds["agent"]
    assert {"HEARTBEAT", "COMMAND_ACK", "MISSION_ACK", "GLOBAL_POSITION_INT"} <= kinds["vehicle"]


def test_link_loss_and_recovery_are_reported(peer: PeerThread) -> None:
    link = open_link(peer)
    try:
        link.wait_for_autopilot(5.0)
        link.monitor.drain_events()
        peer.vehicle.silent = True
        events: list = []
        end = time.monotonic() + 10.0
        while not events and time.monotonic() < end:
            link.step()
            events += link.monitor.drain_events()
        assert [e.kind for e in events] == ["link_lost"]
        peer.vehicle.silent = False
        events = []
        while not events and time.monotonic() < end + 5:
            link.step()
            events += link.monitor.drain_events()
        assert [e.kind for e in events] == ["link_restored"] and events[0].silence_s >= 1.0
    finally:
        link.close()


def test_tcp_link_reconnects_after_the_vehicle_closes_the_connection() -> None:
    peer = PeerThread("tcp")
    link = open_link(peer)
    try:
        link.wait_for_autopilot(5.0)
        link.monitor.drain_events()
        peer.drop_connection(down_s=2.0)
        events: list = []
        saw_down = False
        end = time.monotonic() + 15.0
        while len(events) < 2 and time.monotonic() < end:
            link.step()
            saw_down = saw_down or not link.transport.connected
            events += link.monitor.drain_events()
        assert saw_down and link.transport.last_error in (  # RST if our heartbeat was unread
            "the vehicle closed the TCP connection", "TCP link failed: Connection reset by peer")
        assert [e.kind for e in events] == ["link_lost", "link_restored"], events
        assert link.reconnects == 1 and peer.connections == 2
        # both directions work on the new connection: the vehicle hears our heartbeat and a command
        heard = len(peer.vehicle.received)
        link.run(ModeChange(link.peer, "LOITER"), timeout_s=5.0)
        assert link.state.mode == "LOITER" and len(peer.vehicle.received) > heard
    finally:
        link.close()
        peer.close()


def test_nothing_listening_is_a_vehicle_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(VehicleError, match=f"cannot connect to tcp:127.0.0.1:{port}"):
        open_transport(parse_connection(f"tcp:127.0.0.1:{port}"))


def test_hosted_component_speaks_with_its_own_id(peer: PeerThread) -> None:
    """A camera-like component (100) shares the agent's link: it answers a command addressed
    to it, its packets carry component id 100, and the agent's own still carry 191."""

    def on_message(msg: mavlink.MAVLink_message, now_s: float) -> list:
        if msg.get_type() == "COMMAND_LONG" and msg.target_component == 100:
            return [mavlink.MAVLink_command_ack_message(
                msg.command, 0, 0, 0, msg.get_srcSystem(), msg.get_srcComponent())]
        return []

    link = open_link(peer)
    try:
        link.wait_for_autopilot(5.0)
        link.add(HostedComponent(link, 100, on_message, lambda now_s: []))
        peer.outbox.append(mavlink.MAVLink_command_long_message(254, 100, 2500, 0, 0, 0, 0, 0, 0, 0, 0))
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            link.step()
    finally:
        link.close()
    acks = [m for m in peer.vehicle.received if m.get_type() == "COMMAND_ACK"]
    beats = [m for m in peer.vehicle.received if m.get_type() == "HEARTBEAT"]
    assert acks and acks[0].get_srcComponent() == 100 and acks[0].command == 2500
    assert beats and all(b.get_srcComponent() == 191 for b in beats)


def _read_until(transport, wanted: bytes, timeout_s: float = 5.0) -> bytes:  # noqa: ANN001
    got = b""
    end = time.monotonic() + timeout_s
    while wanted not in got and time.monotonic() < end:
        got += transport.read()
        time.sleep(0.01)
    return got


def test_serial_link_survives_the_radio_being_unplugged_and_plugged_back(tmp_path) -> None:  # noqa: ANN001
    """A USB telemetry radio seen through a stable name (like /dev/serial/by-id/...): the device
    vanishes (a pty whose other side closes), the transport drops it without raising, keeps
    retrying by name, and carries on when a device appears under that name again."""
    import os

    radio = tmp_path / "ttyRADIO"
    master, slave = os.openpty()
    radio.symlink_to(os.ttyname(slave))
    transport = open_transport(parse_connection(f"serial:{radio}:57600"))
    transport.retry_interval_s = 0.05
    os.close(slave)
    try:
        os.write(master, b"heartbeat-1")
        assert b"heartbeat-1" in _read_until(transport, b"heartbeat-1")
        os.close(master)  # unplugged
        end = time.monotonic() + 5.0
        while transport.connected and time.monotonic() < end:
            transport.read()
            time.sleep(0.01)
        assert not transport.connected and transport.fileno() == -1
        assert transport.last_error.startswith("serial link failed"), transport.last_error
        transport.write(b"dropped while down")  # no exception
        master, slave = os.openpty()  # plugged back in: a new device under the same name
        radio.unlink()
        radio.symlink_to(os.ttyname(slave))
        os.close(slave)
        end = time.monotonic() + 5.0
        while not transport.connected and time.monotonic() < end:
            transport.read()
            time.sleep(0.01)
        assert transport.connected
        os.write(master, b"heartbeat-2")
        assert b"heartbeat-2" in _read_until(transport, b"heartbeat-2")
        transport.write(b"to the vehicle")
        assert os.read(master, 100) == b"to the vehicle"
    finally:
        transport.close()
        try:
            os.close(master)
        except OSError:
            pass
