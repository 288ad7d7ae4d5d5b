"""CLI subcommands of ``drone_agent.store``: ``store serve|init|policy``, ``upload``, ``mark``; and
what ``verify``/``decrypt`` need to work on a flight in the store (:func:`fetched_from_store`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from drone_agent.errors import EnvironmentFault, InputError
from drone_agent.evidence import verify_flight
from drone_agent.store import evidence_link, progress, retention
from drone_agent.store.config import NoStoreConfigured, StoreConfig, default_state_dir, resolve_store
from drone_agent.store.embedded import EmbeddedStore
from drone_agent.store.fetch import StoreFlight, fetch_flight, parse_store_url
from drone_agent.store.s3io import Retry, make_client
from drone_agent.store.state import StateDir
from drone_agent.store.uploader import FlightResult, Uploader


def add_store_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("which store")
    group.add_argument("--store", metavar="NAME", help="a named store from the stores file")
    group.add_argument("--profile", type=Path, metavar="OP_TOML",
                       help="operation profile whose [store] section to use")
    group.add_argument("--stores-file", type=Path, metavar="PATH",
                       help="stores file (default $DRONE_AGENT_STORES or "
                            "~/.config/drone-agent/stores.toml)")


def _resolve(args: argparse.Namespace) -> StoreConfig:
    return resolve_store(store_name=args.store, profile=args.profile, stores_file=args.stores_file)


@contextmanager
def fetched_from_store(args: argparse.Namespace, url: str) -> Iterator[tuple[Path, StoreConfig, StoreFlight]]:
    """Download the flight at ``url`` into a private temporary folder for the command's lifetime.
    Endpoint and credentials from the configured store (or, if none, the AWS environment); the
    bucket is the URL's."""
    flight = parse_store_url(url)
    try:
        cfg = _resolve(args)
    except NoStoreConfigured:
        cfg = StoreConfig(bucket=flight.bucket, name="from the AWS environment")
    cfg = dataclasses.replace(cfg, bucket=flight.bucket)
    with tempfile.TemporaryDirectory(prefix="drone-agent-fetch-") as tmp:
        fetched = fetch_flight(make_client(cfg), cfg, flight, Path(tmp), Retry(attempts=cfg.retries))
        print(f"fetched {fetched.objects} objects ({fetched.bytes / 1e6:.1f} MB) from {flight.url}",
              file=sys.stderr)
        yield fetched.flight_dir, cfg, flight


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``drone-agent`` parser."""
    store = sub.add_parser("store", help="run or set up the evidence store")
    store_sub = store.add_subparsers(dest="store_command", metavar="STORE_COMMAND")
    store.set_defaults(func=lambda args: (store.print_help(), 2)[1])

    serve = store_sub.add_parser("serve", help="run an embedded SeaweedFS evidence store on "
                                               "127.0.0.1 in the foreground (demo, tests)")
    serve.add_argument("--dir", type=Path, required=True, metavar="DIR",
                       help="data directory (created; credentials are written here, 0600)")
    serve.add_argument("--port", type=int, default=0, metavar="PORT",
                       help="S3 port (default: the previous one for DIR, else a free one)")
    serve.add_argument("--bucket", default="evidence", help="bucket to create (default evidence)")
    serve.set_defaults(func=cmd_serve)

    init = store_sub.add_parser("init", help="set the bucket up: versioning, 31-day expiry of "
                                             "non-evidential objects, object lock; report support")
    add_store_options(init)
    init.add_argument("--no-object-lock", action="store_true",
                      help="create the bucket without object lock (no legal holds)")
    init.set_defaults(func=cmd_init)

    policy = store_sub.add_parser("policy", help="print an example S3 bucket policy (JSON)")
    add_store_options(policy)
    policy.add_argument("--operation", required=True, help="operation name (its prefix is granted)")
    policy.add_argument("--uploader", required=True, metavar="ARN", help="uploading identity")
    policy.add_argument("--officer", action="append", required=True, metavar="ARN",
                        help="investigating officer identity (repeat for several)")
    policy.add_argument("--bucket", help="bucket (default: the configured store's)")
    policy.add_argument("--prefix", help="key prefix (default: the configured store's)")
    policy.set_defaults(func=cmd_policy)

    upload = sub.add_parser("upload", help="verify, upload, read back and (if configured) delete "
                                           "flight folders; resumable")
    upload.add_argument("flight_dirs", nargs="*", type=Path, metavar="FLIGHT_DIR",
                        help="flight folder(s) to queue, verify, upload and read back")
    upload.add_argument("--all", action="store_true", help="upload every queued flight")
    upload.add_argument("--list", action="store_true", help="show the upload queue and exit")
    add_store_options(upload)
    upload.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="upload state and queue (default [store] state_dir or "
                             "~/.local/state/drone-agent/upload)")
    upload.add_argument("--device-key", type=Path, metavar="PEM",
                        default=os.environ.get("DRONE_AGENT_DEVICE_KEY") or None,
                        help="device key that signs the audit records (default "
                             "$DRONE_AGENT_DEVICE_KEY)")
    upload.add_argument("--passphrase-env", metavar="VAR",
                        help="environment variable holding the device key passphrase")
    upload.add_argument("--keep-local", action="store_true",
                        help="keep the local copy even if the store says delete_local = after_verified")
    upload.set_defaults(func=cmd_upload)

    mark = sub.add_parser("mark", help="mark a flight (or some segments) as evidence")
    mark_sub = mark.add_subparsers(dest="mark_command", metavar="evidential")
    mark.set_defaults(func=lambda args: (mark.print_help(), 2)[1])
    evidential = mark_sub.add_parser("evidential", help="tag evidential=yes and place legal holds")
    evidential.add_argument("flight_id", metavar="FLIGHT_ID")
    evidential.add_argument("segments", nargs="*", metavar="SEGMENT",
                            help="segment or still names (e.g. 000003 or stills/000001); default: all")
    evidential.add_argument("--by", required=True, metavar="OFFICER",
                            help="who marks it (name and collar number), recorded")
    evidential.add_argument("--reason", required=True, help="why it is evidence, recorded")
    add_store_options(evidential)
    evidential.set_defaults(func=cmd_mark)


# -- store serve / init / policy ---------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    store = EmbeddedStore(args.dir, s3_port=args.port, bucket=args.bucket)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        store.start()
        cfg = StoreConfig(bucket=store.bucket, name="embedded", endpoint=store.endpoint_url,
                          region=store.region, aws_profile=store.profile_name,
                          credentials_file=store.credentials_file)
        caps = retention.init_bucket(make_client(cfg), cfg)
        print(f"evidence store (SeaweedFS) running at {store.endpoint_url}  pid {store.pid}")
        print(f"  bucket:      {store.bucket} ("
              + ", ".join(c.name for c in caps if c.supported and c.name != "bucket") + ")")
        print(f"  credentials: {store.credentials_file} (AWS profile {store.profile_name}, 0600)")
        print(f"  stores file: {store.stores_file}")
        print(f"  upload with: drone-agent upload --stores-file {store.stores_file} "
              "--store embedded FLIGHT_DIR")
        print(f"  log:         {store.log_file}")
        print("Ctrl-C to stop", flush=True)
        while store.running:
            time.sleep(0.5)
        raise EnvironmentFault("SeaweedFS exited unexpectedly", f"see {store.log_file}")
    except KeyboardInterrupt:
        print("stopping the evidence store", flush=True)
        return 0
    finally:
        store.stop()
        signal.signal(signal.SIGTERM, previous)


def cmd_init(args: argparse.Namespace) -> int:
    cfg = _resolve(args)
    caps = retention.init_bucket(make_client(cfg), cfg, object_lock=not args.no_object_lock,
                                 retry=Retry(attempts=cfg.retries))
    print(f"{cfg.describe()}:")
    width = max(len(c.name) for c in caps)
    for cap in caps:
        mark = "ok " if cap.supported else "NOT SUPPORTED"
        print(f"  {cap.name:<{width}}  {mark:<13}  {cap.detail}")
    if not next(c for c in caps if c.name == "SHA-256 checksums").supported:
        raise EnvironmentFault(f"{cfg.describe()} does not report SHA-256 checksums",
                               "uploads to it could never be verified; use another store")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    bucket, prefix = args.bucket, args.prefix
    if bucket is None or prefix is None:
        cfg = _resolve(args)
        bucket = bucket or cfg.bucket
        prefix = cfg.prefix if prefix is None else prefix
    policy = retention.example_bucket_policy(bucket, prefix, args.operation, args.uploader,
                                             args.officer)
    print(json.dumps(policy, indent=2))
    return 0


# -- upload ------------------------------------------------------------------------------------
def _print_summary(results: list[FlightResult]) -> None:
    for r in results:
        if r.status == "deleted" and not r.files_total:
            print(f"{r.flight_id}: already uploaded and verified; local copy deleted earlier")
            continue
        local = "deleted" if r.deleted_local else ("kept" if r.status == "uploaded" else r.status)
        print(f"{r.flight_id}: {r.files_total} objects verified in store '{r.store}' at {r.location}"
              f"; sent {r.files_sent} files, {r.bytes_sent / 1e6:.1f} MB in {r.seconds:.1f} s "
              f"({r.mb_per_s:.1f} MB/s); local copy {local}")


def cmd_upload(args: argparse.Namespace) -> int:
    if args.list:
        cfg_state = args.state_dir or default_state_dir()
        states = list(StateDir(cfg_state))
        for st in states:
            err = f"  last error: {st.data['last_error']}" if st.data.get("last_error") else ""
            print(f"{st.flight_id}  {st.status:<9}  {st.flight_dir}{err}")
        if not states:
            print(f"upload queue {cfg_state} is empty")
        return 0
    if not args.flight_dirs and not args.all:
        raise InputError("nothing to upload", "pass FLIGHT_DIR (one or more) or --all")
    cfg = _resolve(args)
    if args.keep_local:
        cfg = dataclasses.replace(cfg, delete_local="keep")
    states = StateDir(args.state_dir or cfg.state_dir or default_state_dir())
    for flight_dir in args.flight_dirs:
        if not (flight_dir.is_dir() or states.load(flight_dir.resolve().name)):
            raise InputError(f"flight folder {flight_dir} not found", "pass an existing flight folder")
    uploader = Uploader(
        cfg, make_client(cfg), states,
        verify=verify_flight,
        audit_for=evidence_link.audit_opener(args.device_key, args.passphrase_env),
        summarize=evidence_link.summarize,
        retry=Retry(attempts=cfg.retries),
        progress=progress.for_stream(sys.stderr),
    )
    for flight_dir in args.flight_dirs:
        states.enqueue(flight_dir)
    results, errors = [], []
    if args.all:
        results, errors = uploader.upload_all()
    else:
        for flight_dir in args.flight_dirs:
            results.append(uploader.upload_flight(flight_dir))
    _print_summary(results)
    if not results and not errors:
        print("no flights waiting for upload")
    for flight_id, err in errors:
        print(f"{flight_id}: {err.one_line()}", file=sys.stderr)
    return errors[0][1].exit_code if errors else 0


# -- mark evidential ---------------------------------------------------------------------------
def cmd_mark(args: argparse.Namespace) -> int:
    cfg = _resolve(args)
    result = retention.mark_evidential(make_client(cfg), cfg, args.flight_id, args.segments,
                                       by=args.by, reason=args.reason,
                                       retry=Retry(attempts=cfg.retries))
    hold = "legal hold placed" if result.legal_hold else "NO legal hold (store/bucket lacks object lock)"
    print(f"{result.flight_id}: {len(result.keys)} objects tagged evidential=yes; {hold}; "
          f"record {result.record_key}")
    for key in result.keys:
        print(f"  {key}")
    return 0
