"""MAVLink 2 wire format for the agent: pymavlink's generated codec, no IO, optional signing.

Theory of operation
-------------------
:class:`Codec` wraps one ``pymavlink.dialects.v20.ardupilotmega.MAVLink(None)`` object. It is
*sans-IO*: :meth:`Codec.feed` takes bytes that some adapter read from a socket and returns the
decoded messages; :meth:`Codec.encode` turns a message object into the bytes the adapter writes.
Each call also takes the current UTC wall-clock time in seconds (``unix_s``), because MAVLink 2
signing timestamps are wall-clock based (10 µs units since 2015-01-01 00:00:00 UTC); the codec
never reads a clock itself.

Signing (MAVLink 2, 32-byte shared secret):

* With a key configured, every outgoing packet is signed. The signing timestamp never goes
  backwards and never lags the wall clock (``max(last + 1, now)``).
* Incoming packets: pymavlink checks the signature and the per-stream timestamp (a packet whose
  timestamp is not newer than the last one from the same (system, component, link) is a replay;
  a new stream more than one minute behind our clock is rejected). An unsigned or badly signed
  packet is still accepted if its message id is *not* one that changes flight or recording
  (:data:`PROTECTED_MESSAGE_IDS`: commands -- camera commands and triggers arrive as
  COMMAND_LONG/INT --, mode changes, position/attitude targets, parameter writes, mission
  clear/set-current, RC overrides). Protected messages without a valid signature are dropped and
  counted in :attr:`Codec.rejected_count` -- they never reach a session. MISSION_COUNT/ITEM are
  not protected: towards the agent they only ever answer its own fence download, and the
  read-back comparison is what guards them.
* Without a key nothing is signed and everything is accepted (an unsigned vehicle still works).

Garbage on the wire (line noise, bad CRC) is dropped and counted in :attr:`Codec.bad_count`;
pymavlink's ``robust_parsing`` resynchronises on the next start-of-frame marker.
"""

from __future__ import annotations

from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from drone_agent.errors import InputError

MAVLINK_EPOCH_UNIX_S = 1420070400  # 2015-01-01T00:00:00Z, the MAVLink signing epoch
SIGNING_KEY_LEN = 32

PROTECTED_MESSAGE_IDS = frozenset(
    {
        mavlink.MAVLINK_MSG_ID_COMMAND_LONG,
        mavlink.MAVLINK_MSG_ID_COMMAND_INT,
        mavlink.MAVLINK_MSG_ID_SET_MODE,
        mavlink.MAVLINK_MSG_ID_SET_POSITION_TARGET_LOCAL_NED,
        mavlink.MAVLINK_MSG_ID_SET_POSITION_TARGET_GLOBAL_INT,
        mavlink.MAVLINK_MSG_ID_SET_ATTITUDE_TARGET,
        mavlink.MAVLINK_MSG_ID_MANUAL_CONTROL,
        mavlink.MAVLINK_MSG_ID_RC_CHANNELS_OVERRIDE,
        mavlink.MAVLINK_MSG_ID_MISSION_CLEAR_ALL,
        mavlink.MAVLINK_MSG_ID_MISSION_SET_CURRENT,
        mavlink.MAVLINK_MSG_ID_PARAM_SET,
        mavlink.MAVLINK_MSG_ID_SETUP_SIGNING,
    }
)
"""Message ids that change flight or recording: accepted only when correctly signed."""


def signing_timestamp(unix_s: float) -> int:
    """MAVLink 2 signing timestamp (10 µs units since 2015-01-01 UTC) for a wall-clock time."""
    return int((unix_s - MAVLINK_EPOCH_UNIX_S) * 100_000)


def load_signing_key(path: Path) -> bytes:
    """Read a 32-byte signing key: raw 32 bytes, or 64 hex digits (whitespace ignored).

    Raises:
        InputError: the file is missing or does not hold exactly 32 bytes of key.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"signing key {path}: cannot read ({exc.strerror})",
            "give the path of a 32-byte key file, e.g. made with: head -c32 /dev/urandom > link.key",
        ) from exc
    if len(data) == SIGNING_KEY_LEN:
        return data
    text = b"".join(data.split())
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != SIGNING_KEY_LEN:
        raise InputError(
            f"signing key {path}: {len(data)} bytes, expected 32 raw bytes or 64 hex digits",
            "a MAVLink 2 signing key is exactly 32 bytes",
        )
    return key


class Codec:
    """Encode and decode MAVLink 2 packets for one link; sign them when a key is given."""

    def __init__(
        self,
        system_id: int,
        component_id: int,
        signing_key: bytes | None = None,
        link_id: int = 0,
    ) -> None:
        if not (1 <= system_id <= 255 and 0 <= component_id <= 255):
            raise InputError(
                f"MAVLink ids {system_id}/{component_id} out of range",
                "system id 1-255, component id 0-255",
            )
        if signing_key is not None and len(signing_key) != SIGNING_KEY_LEN:
            raise InputError(f"signing key is {len(signing_key)} bytes", "it must be 32 bytes")
        self.system_id = system_id
        self.component_id = component_id
        self.signing_key = signing_key
        self.bad_count = 0
        self.rejected_count = 0
        self._mav = mavlink.MAVLink(None, srcSystem=system_id, srcComponent=component_id)
        self._mav.robust_parsing = True
        if signing_key is not None:
            self._mav.signing.secret_key = signing_key
            self._mav.signing.link_id = link_id
            self._mav.signing.sign_outgoing = True
            self._mav.signing.timestamp = 0
            self._mav.signing.allow_unsigned_callback = _allow_unprotected

    @property
    def signing(self) -> bool:
        return self.signing_key is not None

    def _advance_clock(self, unix_s: float) -> None:
        if self.signing_key is not None:
            signing = self._mav.signing
            signing.timestamp = max(signing.timestamp, signing_timestamp(unix_s))

    def encode(
        self, msg: mavlink.MAVLink_message, unix_s: float, component_id: int | None = None,
        system_id: int | None = None,
    ) -> bytes:
        """Pack ``msg`` as a MAVLink 2 packet (signed when keyed) from our system and component,
        or from another component hosted on this link (``component_id``, ``system_id``): the
        camera (100), which speaks as part of the vehicle's system as companion cameras do."""
        self._advance_clock(unix_s)
        self._mav.srcSystem = self.system_id if system_id is None else system_id
        self._mav.srcComponent = self.component_id if component_id is None else component_id
        buf = bytes(msg.pack(self._mav))
        self._mav.seq = (self._mav.seq + 1) % 256
        return buf

    def feed(self, data: bytes, unix_s: float) -> list[mavlink.MAVLink_message]:
        """Decode every complete packet in ``data`` (partial packets wait for the next call)."""
        self._advance_clock(unix_s)
        out: list[mavlink.MAVLink_message] = []
        for msg in self._mav.parse_buffer(data) or ():
            if isinstance(msg, mavlink.MAVLink_bad_data):
                if msg.reason == "Invalid signature":
                    self.rejected_count += 1
                else:
                    self.bad_count += 1
                continue
            out.append(msg)
        return out


def _allow_unprotected(_mav: mavlink.MAVLink, msg_id: int) -> bool:
    return msg_id not in PROTECTED_MESSAGE_IDS
