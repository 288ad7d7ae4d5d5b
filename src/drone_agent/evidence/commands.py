"""CLI subcommands of ``drone_agent.evidence``: ``keys init``, ``verify``, ``decrypt``.

``verify`` and ``decrypt`` also take a flight's location in the evidence store (``s3://...``): the
store package fetches it into a private temporary folder and, before decrypting, records the
consultation in the store."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drone_agent.errors import InputError
from drone_agent.evidence.decrypt import decrypt_flight
from drone_agent.evidence.keys import DeviceKey, EvidenceIdentity, load_trusted_fingerprint
from drone_agent.evidence.records import utc_iso, utc_now
from drone_agent.evidence.verify import verify_flight
from drone_agent.store.commands import add_store_options, fetched_from_store
from drone_agent.store.fetch import URL_SCHEME, StoreFlight, is_store_url, record_consultation
from drone_agent.store.s3io import Retry, make_client

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

    verify = sub.add_parser("verify", help="check a flight's signatures, hashes and chains "
                                           "(a local folder or the store's copy)")
    _flight_argument(verify)
    _trust_option(verify)
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    add_store_options(verify)
    verify.set_defaults(func=cmd_verify)

    decrypt = sub.add_parser("decrypt", help="verify, then decrypt a flight to MP4s + exhibit summary")
    _flight_argument(decrypt)
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
    add_store_options(decrypt)
    decrypt.set_defaults(func=cmd_decrypt)


def _flight_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flight", metavar="FLIGHT",
                        help="flight folder, or the flight's location in the evidence store as "
                             "'drone-agent upload' printed it: s3://BUCKET/[PREFIX/]OPERATION/FLIGHT_ID")


@contextmanager
def _local_flight(args: argparse.Namespace) -> Iterator[tuple[Path, StoreFlight | None, Any]]:
    """(flight folder, store flight or None, store config or None) for ``args.flight``."""
    if not is_store_url(args.flight):
        yield Path(args.flight), None, None
        return
    with fetched_from_store(args, args.flight) as (flight_dir, cfg, flight):
        yield flight_dir, flight, cfg


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
    with _local_flight(args) as (flight_dir, _, _):
        report = verify_flight(flight_dir, _trusted(args))
    where = args.flight
    if args.json:
        print(json.dumps({"flight_dir": where, "flight_id": report.flight_id,
                          "status": report.status, "intact": report.intact, "complete": report.complete,
                          "closed": report.closed, "device_key_fingerprint": report.device_key_fingerprint,
                          "segments_verified": report.segments_verified,
                          "stills_verified": report.stills_verified, "files_verified": report.files_verified,
                          "problems": report.problems, "notes": list(report.notes)}, indent=2))
    else:
        print(f"{where}: {report.status}")
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
    who = args.who or getpass.getuser()
    if is_store_url(args.flight) and not args.reason:
        raise InputError("decrypting from the evidence store needs --reason",
                         "say why the footage is consulted (it is logged in the store, DPA 2018 s.62)")
    logged: list[str] = []
    with _local_flight(args) as (flight_dir, flight, cfg):
        def log_consultation(report: Any, files: list[str]) -> None:
            if flight is None:
                return
            logged.append(f"{URL_SCHEME}{flight.bucket}/" + record_consultation(
                make_client(cfg), cfg, flight, flight_id=str(report.flight_id), who=who, reason=args.reason,
                keys=[flight.key_prefix + rel for rel in files], retry=Retry(attempts=cfg.retries)))

        result = decrypt_flight(flight_dir, identity, args.out, args.allow_incomplete, _trusted(args),
                                who=who, reason=args.reason, source=args.flight,
                                before_decrypt=log_consultation)
    print(f"{args.flight}: {result.report.status}; decrypted {len(result.media)} file(s) to {result.out_dir}")
    for path in result.media:
        print(f"  {path}")
    print(f"  exhibit summary: {result.summary_path}")
    if logged:
        print(f"  consultation recorded in the store: {logged[0]}")
    if not result.report.complete:
        print("  WARNING: flight incomplete (see the summary)", file=sys.stderr)
    return 0
