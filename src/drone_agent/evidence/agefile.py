"""age v1 encryption (c2sp.org/age) to one X25519 recipient, on `cryptography`'s primitives.

Why this writer exists. Sealing runs on the aircraft's laptop beside the video encoder; pyrage
(the Rust ``age`` crate) encrypts at about half the speed of OpenSSL's ChaCha20-Poly1305 on the same
machine (0.51-0.55x in ``bench/bench_evidence.py``), under the 0.8x the evidence issue asks of the
sealing format; this writer runs at 0.92-0.98x. This module writes the same standard format with OpenSSL's ChaCha20-Poly1305, X25519,
HKDF-SHA-256 and HMAC-SHA-256 (all from ``cryptography``) and only does the framing: the header with
one X25519 stanza and its MAC, then the STREAM payload in 64 KiB chunks. It writes, it never reads:
decryption, key generation and recipient validation stay with pyrage, and the tests decrypt what
this writes with pyrage and with the ``age`` command-line tool an investigator uses.

The format, from the specification:

* file key: 16 random bytes, fresh per file;
* stanza ``-> X25519 <ephemeral share>`` whose body is the file key sealed with ChaCha20-Poly1305
  (zero nonce) under HKDF-SHA-256(ikm = X25519(ephemeral, recipient), salt = share || recipient,
  info = "age-encryption.org/v1/X25519");
* header MAC: HMAC-SHA-256 keyed with HKDF(file key, salt = "", info = "header") over the header up
  to and including ``---``;
* payload: a 16-byte random nonce, then chunks of 64 KiB sealed under HKDF(file key, salt = nonce,
  info = "payload") with nonce = 11-byte big-endian counter || 0x01 for the final chunk, else 0x00;
  the final chunk is empty only when the whole plaintext is.

Base64 is standard and unpadded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION_LINE = b"age-encryption.org/v1\n"
CHUNK_BYTES = 64 * 1024
FILE_KEY_BYTES = 16
PAYLOAD_NONCE_BYTES = 16
X25519_INFO = b"age-encryption.org/v1/X25519"
RECIPIENT_HRP = "age"

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class RecipientFormatError(ValueError):
    """The string is not a Bech32 ``age1...`` X25519 recipient."""


def _bech32_polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def bech32_decode(text: str, hrp: str) -> bytes:
    """The bytes inside a Bech32 string with human-readable part ``hrp`` (checksum checked)."""
    text = text.strip()
    if text != text.lower() and text != text.upper():
        raise RecipientFormatError("mixed-case Bech32")
    text = text.lower()
    found_hrp, sep, data = text.rpartition("1")
    if not sep or found_hrp != hrp:
        raise RecipientFormatError(f"expected the prefix '{hrp}1'")
    try:
        values = [_BECH32_CHARSET.index(char) for char in data]
    except ValueError:
        raise RecipientFormatError("character outside the Bech32 alphabet") from None
    expanded = [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]
    if len(values) < 6 or _bech32_polymod(expanded + values) != 1:
        raise RecipientFormatError("Bech32 checksum mismatch")
    accumulator, bits, out = 0, 0, bytearray()
    for value in values[:-6]:
        accumulator = accumulator << 5 | value
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append(accumulator >> bits & 0xFF)
    if bits >= 5 or accumulator & ((1 << bits) - 1):
        raise RecipientFormatError("Bech32 data has non-zero padding")
    return bytes(out)


def x25519_recipient_bytes(recipient: str) -> bytes:
    """The 32-byte X25519 public key inside an ``age1...`` recipient."""
    key = bech32_decode(recipient, RECIPIENT_HRP)
    if len(key) != 32:
        raise RecipientFormatError(f"holds {len(key)} bytes, not a 32-byte X25519 key")
    return key


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def x25519_header(recipient_key: bytes, file_key: bytes) -> bytes:
    """The age header wrapping ``file_key`` for one X25519 recipient, MAC line included."""
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared_secret = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_key))
    wrap_key = _hkdf(shared_secret, share + recipient_key, X25519_INFO)
    body = ChaCha20Poly1305(wrap_key).encrypt(bytes(12), file_key, None)
    header = VERSION_LINE + b"-> X25519 " + _b64(share) + b"\n" + _b64(body) + b"\n---"
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    return header + b" " + _b64(mac) + b"\n"


def encrypt(plaintext: bytes | memoryview, recipient_key: bytes, write: Callable[[bytes], object]) -> None:
    """Encrypt ``plaintext`` to the X25519 ``recipient_key`` as an age file, handing it to ``write``
    piece by piece (header, nonce, then one call per 64 KiB chunk)."""
    file_key = os.urandom(FILE_KEY_BYTES)
    write(x25519_header(recipient_key, file_key))
    nonce = os.urandom(PAYLOAD_NONCE_BYTES)
    write(nonce)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    view = memoryview(plaintext).cast("B")
    final = max(0, (len(view) - 1) // CHUNK_BYTES)
    for counter in range(final + 1):
        chunk_nonce = counter.to_bytes(11, "big") + (b"\x01" if counter == final else b"\x00")
        write(aead.encrypt(chunk_nonce, view[counter * CHUNK_BYTES:(counter + 1) * CHUNK_BYTES], None))
