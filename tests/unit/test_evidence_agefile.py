"""The age writer: pyrage (an independent implementation) must decrypt every file it writes."""

from __future__ import annotations

import base64
import os
import re

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrage import x25519

from drone_agent.errors import InputError
from drone_agent.evidence import EvidenceRecipient
from drone_agent.evidence.agefile import (
    CHUNK_BYTES,
    RecipientFormatError,
    bech32_decode,
    encrypt,
    x25519_recipient_bytes,
)

IDENTITY = x25519.Identity.generate()
RECIPIENT_KEY = x25519_recipient_bytes(str(IDENTITY.to_public()))

# The X25519 example pair from the age specification (c2sp.org/age).
SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def _seal(plaintext: bytes) -> tuple[bytes, list[bytes]]:
    pieces: list[bytes] = []
    encrypt(plaintext, RECIPIENT_KEY, pieces.append)
    return b"".join(pieces), pieces


def test_recipient_decoding_matches_the_specification_example_pair() -> None:
    secret = bech32_decode(SPEC_IDENTITY, "age-secret-key-")
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    assert x25519_recipient_bytes(SPEC_RECIPIENT) == public
    assert x25519_recipient_bytes(SPEC_RECIPIENT.upper()) == public


@pytest.mark.parametrize("bad, reason", [
    (SPEC_RECIPIENT[:-1] + ("q" if SPEC_RECIPIENT[-1] != "q" else "p"), "checksum"),
    ("age1" + SPEC_RECIPIENT[4:].upper(), "mixed-case"),
    (SPEC_RECIPIENT.replace("age1", "agf1", 1), "prefix"),
    (SPEC_RECIPIENT[:10] + "b" + SPEC_RECIPIENT[11:], "alphabet"),
])
def test_malformed_recipients_are_refused_with_the_reason(bad: str, reason: str) -> None:
    with pytest.raises(RecipientFormatError, match=reason):
        x25519_recipient_bytes(bad)


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES,
                                  2 * CHUNK_BYTES + 17])
def test_pyrage_decrypts_every_chunk_boundary(size: int) -> None:
    plaintext = os.urandom(size)
    sealed, pieces = _seal(plaintext)
    assert pyrage.decrypt(sealed, [IDENTITY]) == plaintext
    chunks = pieces[2:]
    assert len(chunks) == max(1, -(-size // CHUNK_BYTES)), "the final chunk is empty only for empty input"
    assert len(sealed) == len(pieces[0]) + 16 + size + 16 * len(chunks)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3 * CHUNK_BYTES + 5))
def test_pyrage_decrypts_any_plaintext(plaintext: bytes) -> None:
    assert pyrage.decrypt(_seal(plaintext)[0], [IDENTITY]) == plaintext


def test_header_is_canonical_and_fresh_per_file() -> None:
    first, second = _seal(b"x")[1][0], _seal(b"x")[1][0]
    pattern = rb"age-encryption\.org/v1\n-> X25519 ([A-Za-z0-9+/]{43})\n([A-Za-z0-9+/]{43})\n--- ([A-Za-z0-9+/]{43})\n"
    parts = [re.fullmatch(pattern, header) for header in (first, second)]
    assert all(parts), (first, second)
    for share, body, mac in (match.groups() for match in parts if match):
        assert len(base64.b64decode(share + b"=")) == 32 and len(base64.b64decode(body + b"=")) == 32
        assert len(base64.b64decode(mac + b"=")) == 32
    assert parts[0].group(1) != parts[1].group(1), "a fresh ephemeral key per file"
    assert parts[0].group(2) != parts[1].group(2), "a fresh file key per file"


def test_a_file_for_another_recipient_does_not_decrypt() -> None:
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(_seal(b"evidence")[0], [x25519.Identity.generate()])


def test_a_flipped_payload_bit_or_a_dropped_final_chunk_is_rejected() -> None:
    sealed, pieces = _seal(os.urandom(CHUNK_BYTES + 100))
    flipped = bytearray(sealed)
    flipped[-5] ^= 1
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(bytes(flipped), [IDENTITY])
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(b"".join(pieces[:-1]), [IDENTITY])


def test_evidence_recipient_refuses_a_low_order_point() -> None:
    zero_point = "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z"  # valid Bech32, key 0
    assert str(x25519.Recipient.from_str(zero_point)) == zero_point, "pyrage alone accepts it"
    with pytest.raises(InputError, match="low-order"):
        EvidenceRecipient.from_str(zero_point)
