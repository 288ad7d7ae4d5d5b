"""CLI subcommands of ``drone_agent.report``: ``drone-agent report`` (of a flight folder or of the
store's copy of a flight)."""

from __future__ import annotations

import argparse
from pathlib import Path

from drone_agent.errors import EnvironmentFault
from drone_agent.store.commands import add_store_options, fetched_from_store
from drone_agent.store.fetch import is_store_url


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``drone-agent`` parser."""
    p = sub.add_parser("report", help="write the post-flight report (self-contained HTML + PNG map)",
                       description="Write a self-contained HTML report of a flight folder, and a PNG "
                                   "of its map beside it (same name, .png).")
    p.add_argument("flight", metavar="FLIGHT",
                   help="flight folder, or the flight's location in the evidence store "
                        "(s3://BUCKET/[PREFIX/]OPERATION/FLIGHT_ID, as 'drone-agent upload' printed it)")
    p.add_argument("--out", type=Path, default=None, metavar="REPORT.html",
                   help="where to write the report (default: ./<FLIGHT_ID>-report.html; never inside the flight folder, which holds only sealed evidence)")
    add_store_options(p)
    p.set_defaults(func=_report)


def write_report(flight_dir: Path, out: Path | None = None, source: str | None = None) -> tuple[Path, Path]:
    """Write the HTML report and its PNG map; returns both paths. ``source`` names where the flight
    was read from in the report (default: the folder)."""
    from drone_agent.report.flight_record import load_flight_record
    from drone_agent.report.html_page import render_html
    from drone_agent.report.map_image import render_map_png

    record = load_flight_record(flight_dir, source)
    html_path = out or Path.cwd() / f"{Path(flight_dir).resolve().name}-report.html"
    png_path = html_path.with_suffix(".png")
    png = render_map_png(record)
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        png_path.write_bytes(png)
        html_path.write_text(render_html(record, png), encoding="utf-8")
    except OSError as exc:
        raise EnvironmentFault(f"cannot write the report to {html_path}: {exc}",
                               "choose another --out or free disk space") from exc
    return html_path, png_path


def _report(args: argparse.Namespace) -> int:
    if is_store_url(args.flight):
        with fetched_from_store(args, args.flight) as (flight_dir, _, _):  # named as the flight
            html_path, png_path = write_report(flight_dir, args.out, source=args.flight)
    else:
        html_path, png_path = write_report(Path(args.flight), args.out)
    print(f"report: {html_path}\nmap:    {png_path}")
    return 0
