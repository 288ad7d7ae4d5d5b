"""CLI subcommands of ``drone_agent.evidence``: ``keys init``, ``verify``, ``decrypt``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from drone_agent.errors import InputError
from drone_agent.evidence.decrypt import decrypt_flight
from drone_agent.evidence.keys import DeviceKey, EvidenceIdentity, load_trusted_fingerprint
from drone_agent.evidence.records import utc_iso, utc_now
from drone_agent.evidence.verify import verify_flight

DEVICE_KEY_FILE = "device-key.pem"
DEVICE_PUB_FILE = "device-key.pub"
RECIPIENT_FILE = "evidence-recipient.txt"
IDENTITY_FILE = "evidence-private-key.txt"


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``drone-agent`` parser."""
    keys = sub.add_parser("keys", help="create the aircraft's signing key (and demo evidence keys)")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=type(keys))
    init = keys_sub.add_parser("init", help="create device-key.pem (0600) and device-key.pub")
    init.add_argument("--dir", type=Path, default=Path("keys"), help="folder for the key files (default: keys)")
    init.add_argument("--passphrase-env", metavar="VAR",
                      help="encrypt the device key with the passphrase in environment variable VAR")
    init.add_argument("--demo-evidence-key", action="store_true",
                      help="ALSO create an evidence key pair, for demos and tests only")
    init.set_defaults(func=cmd_keys_init)
    keys.set_defaults(func=lambda args: keys.print_help() or 2)

    verify = sub.add_parser("verify", help="check a flight folder's signatures, hashes and chains")
    verify.add_argument("flight_dir", type=Path, metavar="FLIGHT_DIR")
    _trust_option(verify)
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_verify)

    decrypt = sub.add_parser("decrypt", help="verify, then decrypt a flight to MP4s + exhibit summary")
    decrypt.add_argument("flight_dir", type=Path, metavar="FLIGHT_DIR")
    decrypt.add_argument("--key", type=Path, required=True, metavar="EVIDENCE_PRIVATE_KEY",
                         help="the evidence store's age identity file (AGE-SECRET-KEY-1...)")
    decrypt.add_argument("--out", type=Path, required=True, metavar="DIR",
                         help="output folder; files go to DIR/<flight_id>/")
    decrypt.add_argument("--who", metavar="NAME", help="person decrypting, for the exhibit summary "
                         "(default: the OS user name)")
    decrypt.add_argument("--reason", metavar="TEXT", help="why the footage is consulted (DPA 2018 s.62)")
    decrypt.add_argument("--allow-incomplete", action="store_true",
                         help="decrypt a flight that is intact but was never closed (crash)")
    _trust_option(decrypt)
    decrypt.set_defaults(func=cmd_decrypt)


def _trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-key", action="append", default=[], metavar="PUBFILE_OR_FINGERPRINT",
                        help="require the flight to be signed by this device key (repeatable)")


def cmd_keys_init(args: argparse.Namespace) -> int:
    passphrase = None
    if args.passphrase_env:
        passphrase = os.environ.get(args.passphrase_env)
        if not passphrase:
            raise InputError(f"--passphrase-env {args.passphrase_env}: variable unset or empty",
                             f"export {args.passphrase_env}=... first")
    folder: Path = args.dir
    targets = [folder / DEVICE_KEY_FILE, folder / DEVICE_PUB_FILE]
    if args.demo_evidence_key:
        targets += [folder / RECIPIENT_FILE, folder / IDENTITY_FILE]
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise InputError(f"refusing to overwrite {', '.join(existing)}", "choose another --dir")
    folder.mkdir(parents=True, exist_ok=True)
    key = DeviceKey.generate()
    key.save(targets[0], passphrase)
    targets[1].write_text(key.public_pem)
    print(f"device signing key:  {targets[0]}  (mode 0600{', passphrase-protected' if passphrase else ''})"
          f"\n  goes on the aircraft / ground laptop; signs manifests and audit records")
    print(f"device public key:   {targets[1]}  fingerprint {key.fingerprint}"
          f"\n  register it with the evidence store; 'verify --trust-key {targets[1]}'")
    if args.demo_evidence_key:
        identity = EvidenceIdentity.generate()
        identity.save(targets[3], utc_iso(utc_now()))
        targets[2].write_text(identity.recipient.recipient + "\n")
        print(f"evidence public key: {targets[2]}  (age recipient; goes on the aircraft)")
        print(f"EVIDENCE PRIVATE KEY: {targets[3]}  (mode 0600) -- DEMO/TEST ONLY.\n"
              "  !! NEVER let this file travel with the aircraft or its laptop: whoever holds it can\n"
              "  !! read every recording. In service the evidence store generates and keeps this key.")
    return 0


def _trusted(args: argparse.Namespace) -> list[str]:
    return [load_trusted_fingerprint(spec) for spec in args.trust_key]


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify_flight(args.flight_dir, _trusted(args))
    if args.json:
        print(json.dumps({"flight_dir": str(report.flight_dir), "flight_id": report.flight_id,
                          "status": report.status, "intact": report.intact, "complete": report.complete,
                          "closed": report.closed, "device_key_fingerprint": report.device_key_fingerprint,
                          "segments_verified": report.segments_verified,
                          "stills_verified": report.stills_verified, "files_verified": report.files_verified,
                          "problems": report.problems, "notes": list(report.notes)}, indent=2))
    else:
        print(f"{report.flight_dir}: {report.status}")
        print(f"  flight {report.flight_id}, device key {report.device_key_fingerprint}")
        print(f"  verified: {report.segments_verified} segment(s), {report.stills_verified} still(s), "
              f"{report.files_verified} attached file(s)")
        for problem in report.problems:
            print(f"  {problem}")
        for note in report.notes:
            print(f"  note: {note}")
    return 0 if report.complete else 1


def cmd_decrypt(args: argparse.Namespace) -> int:
    identity = EvidenceIdentity.load(args.key)
    result = decrypt_flight(args.flight_dir, identity, args.out, args.allow_incomplete, _trusted(args),
                            who=args.who, reason=args.reason)
    print(f"{args.flight_dir}: {result.report.status}; decrypted {len(result.media)} file(s) to {result.out_dir}")
    for path in result.media:
        print(f"  {path}")
    print(f"  exhibit summary: {result.summary_path}")
    if not result.report.complete:
        print("  WARNING: flight incomplete (see the summary)", file=sys.stderr)
    return 0
