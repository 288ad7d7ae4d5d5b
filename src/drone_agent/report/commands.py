"""CLI subcommands of ``drone_agent.report``: ``drone-agent report``."""

from __future__ import annotations

import argparse
from pathlib import Path

from drone_agent.errors import EnvironmentFault


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``drone-agent`` parser."""
    p = sub.add_parser("report", help="write the post-flight report (self-contained HTML + PNG map)",
                       description="Write a self-contained HTML report of a flight folder, and a PNG "
                                   "of its map beside it (same name, .png).")
    p.add_argument("flight_dir", type=Path, metavar="FLIGHT_DIR")
    p.add_argument("--out", type=Path, default=None, metavar="REPORT.html",
                   help="where to write the report (default: ./<FLIGHT_DIR name>-report.html; never inside the flight folder, which holds only sealed evidence)")
    p.set_defaults(func=_report)


def write_report(flight_dir: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write the HTML report and its PNG map; returns both paths."""
    from drone_agent.report.flight_record import load_flight_record
    from drone_agent.report.html_page import render_html
    from drone_agent.report.map_image import render_map_png

    record = load_flight_record(flight_dir)
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
    html_path, png_path = write_report(args.flight_dir, args.out)
    print(f"report: {html_path}\nmap:    {png_path}")
    return 0
