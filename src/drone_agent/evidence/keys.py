"""Keys: the aircraft's Ed25519 signing key and the evidence store's age (X25519) key.

Who holds what:

* the **device key** (Ed25519, PEM/PKCS#8, file mode 0600, optionally passphrase-encrypted) lives
  on the aircraft/ground laptop and signs manifests and audit records; it cannot decrypt anything;
* the **evidence recipient** (an ``age1...`` X25519 public key) lives on the aircraft and is what
  every segment is sealed to;
* the **evidence identity** (``AGE-SECRET-KEY-1...``) is held only by the evidence store / the
  investigator; the aircraft never holds it, and :meth:`EvidenceRecipient.load` refuses a file that
  contains one.

Fingerprints are SHA-256 over the raw public key (Ed25519) or the recipient string (age).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pyrage import x25519

from drone_agent.errors import InputError
from drone_agent.evidence.agefile import x25519_recipient_bytes

SECRET_PREFIX = "AGE-SECRET-KEY-1"


def ed25519_fingerprint(public_raw: bytes) -> str:
    return "ed25519:sha256:" + hashlib.sha256(public_raw).hexdigest()


def age_fingerprint(recipient: str) -> str:
    return "age-x25519:sha256:" + hashlib.sha256(recipient.encode("ascii")).hexdigest()


def _read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {path}: cannot read ({exc})", "check the path") from exc


def _key_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (never overwriting), write and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def public_key_from_b64(public_key_b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))


def signature_valid(public_key_b64: str, signature_b64: str, data: bytes) -> bool:
    """True when ``signature_b64`` is a valid Ed25519 signature of ``data`` by that key."""
    try:
        public_key_from_b64(public_key_b64).verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True, slots=True, eq=False)
class DeviceKey:
    """The aircraft's Ed25519 signing key."""

    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path | str, passphrase: str | bytes | None = None) -> DeviceKey:
        path = Path(path)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise InputError(f"device key {path}: cannot read ({exc})", "run 'drone-agent keys init'") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InputError(
                f"device key {path}: permissions {stat.filemode(mode)} let other users read it",
                f"run 'chmod 600 {path}'",
            )
        pem = _read_text(path, "device key").encode("ascii", "replace")
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        try:
            key = serialization.load_pem_private_key(pem, password=secret)
        except TypeError as exc:
            hint = ("it is passphrase-protected: give the passphrase" if secret is None
                    else "it is not encrypted: give no passphrase")
            raise InputError(f"device key {path}: {exc}", hint) from exc
        except ValueError as exc:
            raise InputError(f"device key {path}: {exc}", "check the passphrase and the file") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(f"device key {path}: not an Ed25519 key", "run 'drone-agent keys init'")
        return cls(key)

    def save(self, path: Path | str, passphrase: str | bytes | None = None) -> None:
        """Write PEM/PKCS#8 with mode 0600; refuses to overwrite an existing file."""
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        encryption = (serialization.BestAvailableEncryption(secret) if secret
                      else serialization.NoEncryption())
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        write_private_file(Path(path), pem)

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode("ascii")

    @property
    def public_pem(self) -> str:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return ed25519_fingerprint(self.public_raw)

    def sign_b64(self, data: bytes) -> str:
        return base64.b64encode(self.private_key.sign(data)).decode("ascii")


def load_trusted_fingerprint(spec: str) -> str:
    """A fingerprint given literally, or read from a device public key file (PEM)."""
    if spec.startswith("ed25519:sha256:"):
        return spec
    pem = _read_text(Path(spec), "trusted device key").encode("ascii", "replace")
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise InputError(f"trusted device key {spec}: not a PEM public key ({exc})",
                         "pass a device-key.pub file or an 'ed25519:sha256:...' fingerprint") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"trusted device key {spec}: not an Ed25519 key", "pass a device-key.pub file")
    return ed25519_fingerprint(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@dataclass(frozen=True, slots=True)
class EvidenceRecipient:
    """The evidence store's public age key: everything is sealed to it."""

    recipient: str

    @classmethod
    def from_str(cls, text: str, source: str = "evidence recipient") -> EvidenceRecipient:
        text = text.strip()
        if text.startswith(SECRET_PREFIX):
            raise InputError(
                f"{source}: contains an age PRIVATE key (AGE-SECRET-KEY-...)",
                "the aircraft must hold only the evidence store's public key (age1...); "
                "keep the private key at the evidence store",
            )
        try:
            x25519.Recipient.from_str(text)
            public_key = X25519PublicKey.from_public_bytes(x25519_recipient_bytes(text))
        except Exception as exc:  # pyrage raises its own RecipientError / ValueError
            raise InputError(f"{source}: not an age X25519 recipient ({exc})",
                             "expected one line 'age1...'") from exc
        try:
            X25519PrivateKey.generate().exchange(public_key)
        except ValueError as exc:
            raise InputError(f"{source}: a low-order X25519 point: anyone could decrypt what is sealed to it",
                             "use the evidence store's real public key (age-keygen -y)") from exc
        return cls(text)

    @classmethod
    def load(cls, path: Path | str) -> EvidenceRecipient:
        lines = _key_lines(_read_text(Path(path), "evidence recipient"))
        if any(ln.startswith(SECRET_PREFIX) for ln in lines):
            return cls.from_str(next(ln for ln in lines if ln.startswith(SECRET_PREFIX)), str(path))
        if len(lines) != 1:
            raise InputError(f"evidence recipient {path}: expected exactly one 'age1...' line, "
                             f"found {len(lines)}", "use the file 'keys init' or age-keygen -y wrote")
        return cls.from_str(lines[0], str(path))

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte X25519 public key segments are sealed to."""
        return x25519_recipient_bytes(self.recipient)

    @property
    def fingerprint(self) -> str:
        return age_fingerprint(self.recipient)


@dataclass(frozen=True, slots=True, eq=False)
class EvidenceIdentity:
    """The evidence store's PRIVATE age key. Never on the aircraft; used by ``decrypt``."""

    identity: str

    @classmethod
    def generate(cls) -> EvidenceIdentity:
        return cls(str(x25519.Identity.generate()))

    @classmethod
    def load(cls, path: Path | str) -> EvidenceIdentity:
        lines = [ln for ln in _key_lines(_read_text(Path(path), "evidence private key"))
                 if ln.startswith(SECRET_PREFIX)]
        if len(lines) != 1:
            raise InputError(f"evidence private key {path}: expected one 'AGE-SECRET-KEY-1...' line, "
                             f"found {len(lines)}", "pass the identity file written by age-keygen "
                             "or 'keys init --demo-evidence-key'")
        try:
            x25519.Identity.from_str(lines[0])
        except Exception as exc:  # pyrage IdentityError
            raise InputError(f"evidence private key {path}: invalid ({exc})", "check the file") from exc
        return cls(lines[0])

    @property
    def age(self) -> x25519.Identity:
        return x25519.Identity.from_str(self.identity)

    @property
    def recipient(self) -> EvidenceRecipient:
        return EvidenceRecipient(str(self.age.to_public()))

    def save(self, path: Path | str, created_utc: str) -> None:
        """Write in age-keygen's format, mode 0600, never overwriting."""
        text = (f"# created: {created_utc}\n"
                f"# public key: {self.recipient.recipient}\n"
                "# EVIDENCE STORE PRIVATE KEY - NEVER copy this file to the aircraft or its laptop\n"
                f"{self.identity}\n")
        write_private_file(Path(path), text.encode("ascii"))
