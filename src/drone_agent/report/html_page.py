"""The post-flight report as one self-contained HTML page (inline CSS, map embedded as PNG).

Written for two readers: the pilot (what happened, where the guard acted, was recording on only when
it should have been) and the investigating officer (what evidence exists, its hashes, whether it
verifies). No script, no external resource: it opens offline and prints cleanly.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping
from typing import Any

from drone_agent.report.flight_record import FlightRecord, recording_spans, utc_text
from drone_agent.report.map_image import MARKER_BGR, markers_for

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccd;padding-bottom:4px}
.sub{color:#556}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px;margin:16px 0}
.card{background:#fff;border:1px solid #dde;border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:19px}.card span{color:#667;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.verdict{display:inline-block;padding:6px 12px;border-radius:6px;font-weight:700;color:#fff;margin-top:10px}
.ok{background:#1b7f3b}.warn{background:#b26b00}.bad{background:#b3261e}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef;vertical-align:top;font-size:13px}
th{background:#eef0f5;font-weight:600}td.hash{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
img.map{width:100%;border:1px solid #ccd;border-radius:8px;background:#fff}
ul.problems{background:#fff4f3;border:1px solid #f0c4c0;border-radius:6px;padding:8px 8px 8px 28px}
.dot{display:inline-block;width:11px;height:11px;border-radius:50%;border:1px solid #000;margin-right:6px;vertical-align:-1px}
footer{color:#778;font-size:12px;margin-top:30px}
@media print{body{background:#fff}main{padding:0}}
"""

_SKIP_FIELDS = {"seq", "utc", "event", "prev_sha256", "sig", "device_public_key_b64"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], hash_cols: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="hash">{c}</td>' if i in hash_cols else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td>none</td></tr>'}</tbody></table>"


def _details(record: Mapping[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        if key in _SKIP_FIELDS:
            continue
        if isinstance(value, Mapping):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        parts.append(f"<b>{_e(key)}</b>: {_e(value)}")
    return "; ".join(parts)


def _masked_text(meta: Mapping[str, Any]) -> str:
    zones = meta.get("masked_zones") or []
    text = ", ".join(str(z) for z in zones) or "none"
    if meta.get("full_frame_masked"):
        text += f" (whole frame masked in {meta['full_frame_masked']} frames: pose unknown)"
    return text


def _verdict(verification: Any) -> tuple[str, str]:
    if not verification.intact:
        return "bad", "TAMPERED OR UNREADABLE: do not rely on this evidence"
    if not verification.complete:
        return "warn", "INCOMPLETE BUT INTACT: every sealed segment verifies; the flight did not close normally"
    return "ok", "INTACT: every signature, hash and chain link verifies"


def _recording_rows(record: FlightRecord) -> list[list[str]]:
    rows = []
    for start, stop in recording_spans(record):
        if stop is None:
            ended, duration = "(not stopped)", ""
        else:
            ended = _e(stop["utc"])
            duration = f"{record.audit_time_s(stop) - record.audit_time_s(start):.1f} s"
        rows.append([_e(start["utc"]), ended, duration, _e(start.get("source")), _e(start.get("operator")),
                     _e(start.get("reason")), _e(start.get("incident_ref"))])
    return rows


def render_html(record: FlightRecord, map_png: bytes) -> str:
    summary, verification = record.summary, record.verification
    css_class, verdict = _verdict(verification)
    problems = list(verification.problems)
    track = record.track
    max_height = max((p.alt_rel_m for p in track), default=0.0)
    duration = (track[-1].time_utc_s - track[0].time_utc_s) if len(track) > 1 else 0.0
    guard = [a for a in record.audit if a["event"].startswith("guard_")]
    segments = list(summary.segments)
    marker_numbers = {m.audit_index: m.number for m in markers_for(record)}

    def dot(event: str) -> str:
        b, g, r = MARKER_BGR[event]
        return f'<span class="dot" style="background:rgb({r},{g},{b})"></span>'

    cards = [
        ("flight time", f"{duration / 60:.1f} min"),
        ("max height above home", f"{max_height:.1f} m"),
        ("guard actions", str(len(guard))),
        ("evidence segments", str(len(segments))),
    ]
    timeline_rows = [
        [str(marker_numbers.get(i, "")), _e(a.get("seq")), _e(a["utc"]),
         (dot(a["event"]) if a["event"] in MARKER_BGR else "") + _e(a["event"]), _details(a)]
        for i, a in enumerate(record.audit)]
    segment_rows = [
        [_e(s.index), _e(s.start_utc), _e(s.end_utc), _e(s.frame_count), _e(s.trigger_id),
         _e(_masked_text(s.meta)), _e(s.file), _e(s.plaintext_sha256), _e(s.ciphertext_sha256)]
        for s in segments]
    problem_html = ("<ul class='problems'>" + "".join(f"<li>{_e(p)}</li>" for p in problems) + "</ul>"
                    if problems else "")
    png = base64.b64encode(map_png).decode()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Flight report {_e(summary.flight_id)}</title><style>{CSS}</style></head>
<body><main>
<h1>Flight report: {_e(summary.operation_name)}</h1>
<div class="sub">Flight <b>{_e(summary.flight_id)}</b> &middot; incident {_e(summary.incident_ref or 'none')}
&middot; {_e(summary.started_utc)} to {_e(summary.ended_utc or 'not closed')}</div>
<div class="verdict {css_class}">{_e(verdict)}</div>
{problem_html}
<div class="grid">{''.join(f'<div class="card"><span>{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in cards)}</div>
<h2>Map</h2>
<img class="map" alt="Flight track over the operation area, no-fly and privacy zones" src="data:image/png;base64,{png}">
<h2>Recording (evidence triggers)</h2>
{_table(["started", "stopped", "duration", "source", "operator", "reason", "incident"], _recording_rows(record))}
<h2>Evidence</h2>
{_table(["seq", "start (UTC)", "end (UTC)", "frames", "trigger", "masked zones", "file", "SHA-256 plaintext", "SHA-256 sealed"], segment_rows, frozenset({7, 8}))}
<h2>Timeline (audit log)</h2>
{_table(["map", "seq", "time (UTC)", "event", "details"], timeline_rows)}
<footer>Generated by drone-agent from {_e(record.source)}.
Track: {len(track)} positions{', ' + utc_text(track[0].time_utc_s) + ' to ' + utc_text(track[-1].time_utc_s) if track else ''}.
Verify independently with <code>drone-agent verify {_e(record.source)}</code>.</footer>
</main></body></html>
"""
