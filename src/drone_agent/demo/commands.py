"""CLI subcommand ``drone-agent demo``."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from drone_agent.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="fly a complete simulated police sortie end to end (simulator, agent, evidence, store)",
        description="Starts the simulator (or real SITL with --sitl), the embedded evidence store and "
        "the agent with the Kent example operation; flies a scripted sortie (gate, take-off, a leg the "
        "guard stops before the boundary, an evidence trigger over the MAVLink camera protocol, a pass "
        "over a privacy zone, trigger off, return and land); then verifies, uploads, reports and "
        "decrypts. Exit 0 when every step passed, 1 otherwise.")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where keys, flight folder(s), store data and the report go "
                   "(default: ./demo-out/<UTC time>)")
    p.add_argument("--speedup", type=float, default=3.0, metavar="N",
                   help="simulator speed-up (default 3; 1 = real time)")
    p.add_argument("--sitl", action="store_true",
                   help="fly real ArduPilot SITL instead of the built-in simulator (ARDUPILOT_SITL names "
                   "the arducopter binary)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from drone_agent.demo.run import run_demo

    if not 0.5 <= args.speedup <= 10:
        raise InputError(f"--speedup {args.speedup:g} is outside 0.5..10",
                         "the guard's timing is honest only up to about 10x")
    out = args.out or Path("demo-out") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty", "choose a new --out folder")
    start = time.monotonic()
    result = run_demo(out, speedup=args.speedup, sitl=args.sitl, say=lambda line: print(line, flush=True))
    passed = sum(s.ok for s in result.steps)
    print()
    print(f"demo {'PASSED' if result.ok else 'FAILED'}: {passed}/{len(result.steps)} steps "
          f"in {time.monotonic() - start:.0f} s")
    for step in result.steps:
        print(f"  {'ok  ' if step.ok else 'FAIL'} {step.name}")
    if result.flight_dir:
        print(f"flight folder (sealed evidence): {result.flight_dir}")
        print(f"verify it yourself:              drone-agent verify {result.flight_dir}")
    if result.report:
        print(f"post-flight report:              {result.report}")
    if result.keys_dir:
        print(f"demo keys (the evidence PRIVATE key is for this demo only): {result.keys_dir}")
    return 0 if result.ok else 1
