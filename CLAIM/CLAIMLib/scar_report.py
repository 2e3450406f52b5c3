"""The one-page HTML report of a scar quantification: one self-contained file (the bull's-eye embedded as a PNG),
with the method, the remote region, the totals, the sensitivity band and the per-segment table."""
from __future__ import annotations

import base64
import html

STYLE = ("body{font-family:sans-serif;max-width:60em;margin:1em auto;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:2px 6px;"
         "text-align:right}th{background:#eee}td.l,th.l{text-align:left}img{max-width:100%}")

SEGMENT_COLUMNS = (("segment", "Segment", "{}"), ("name", "Name", "{}"), ("territory", "Territory", "{}"),
                   ("myocardium_ml", "Myocardium (mL)", "{:.2f}"), ("scar_ml", "Scar (mL)", "{:.2f}"),
                   ("scar_percent", "Scar (% of segment)", "{:.1f}"),
                   ("transmurality_mean", "Transmurality mean", "{:.2f}"),
                   ("transmurality_max", "Transmurality max", "{:.2f}"), ("gray_zone_ml", "Gray zone (mL)", "{:.2f}"),
                   ("mvo_ml", "MVO (mL)", "{:.2f}"))


def _table(header, rows, table_id) -> str:
    head = "".join(f"<th class='l'>{html.escape(h)}</th>" if i == 0 else f"<th>{html.escape(h)}</th>"
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td class='l'>{html.escape(str(c))}</td>" if i == 0 else
                                    f"<td>{html.escape(str(c))}</td>" for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table id='{table_id}'><tr>{head}</tr>{body}</table>"


def _num(value, fmt="{:.4g}") -> str:
    return "-" if value is None else fmt.format(value)


def html_report(record: dict, table: dict, png: bytes | None) -> str:
    """The report as HTML text. ``record``: a ``workflows.scar.quantify_scar`` record; ``table``: its per-segment
    table; ``png``: the bull's-eye figure."""
    r, t, remote = record, record["totals"], record["remote"]
    method = [("Method", f"{r['method']}: {r['definition']}"), ("Threshold", _num(r["threshold"])),
              ("Threshold (remote SDs)", _num(r.get("threshold_sd"), "{:.2f}")),
              ("Remote myocardium", remote["description"]),
              ("Smallest component kept", f"{r['min_size_ml']:g} mL"),
              ("Only endocardial components", "yes" if r["endocardial_only"] else "no"),
              ("Septum", f"{r['orientation'].get('source')} (confidence {r['orientation'].get('confidence', 0):.2f})")]
    if "fwhm" in r:
        method.append(("FWHM peak", f"{_num(r['fwhm']['peak'])} (95th percentile of a {r['fwhm']['component_ml']:.2f}"
                                    f" mL enhanced region above {_num(r['fwhm']['seed_level'])})"))
    if "gray_zone" in r:
        g = r["gray_zone"]
        method.append(("Gray zone", f"{g['levels'][0]:g}-{g['levels'][1]:g} {g['unit']} "
                                    f"({_num(g['thresholds'][0])} to {_num(g['thresholds'][1])})"))
    totals = [("Myocardium", f"{t['myocardium_ml']:.2f} mL", ""),
              ("Scar (MVO included)", f"{t['scar_ml']:.2f} mL", f"{t['scar_percent']:.1f}%"),
              ("MVO", f"{t['mvo_ml']:.2f} mL", f"{100 * t['mvo_ml'] / t['myocardium_ml']:.1f}%"
                                                if t["myocardium_ml"] else ""),
              ("Gray zone", f"{t['gray_zone_ml']:.2f} mL" if "gray_zone" in r else "not asked",
               f"{t['gray_zone_percent']:.1f}%" if "gray_zone" in r else "")]
    band = [(b["method"], _num(b["threshold"]), f"{b['scar_ml']:.2f}", f"{b['scar_percent']:.1f}")
            for b in r.get("sensitivity", [])]
    segments = [[fmt.format(row[key]) for key, _, fmt in SEGMENT_COLUMNS] for row in table["segments"]]
    figure = (f"<img id='bullseye' alt='bull&#39;s-eye' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
              if png else "")
    title = html.escape(f"{r['case_id']}: LGE scar quantification")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style>"
             f"</head><body><h1>{title}</h1>", figure,
             "<h2>Method</h2>", _table(("Item", "Value"), method, "method"),
             "<h2>Totals</h2>", _table(("Structure", "Volume", "% of LV myocardium"), totals, "totals")]
    if band:
        parts += ["<h2>Sensitivity to the method</h2>",
                  _table(("Method", "Threshold", "Scar (mL)", "Scar (% of LV)"), band, "sensitivity")]
    parts += ["<h2>Per AHA segment</h2>", _table([h for _, h, _ in SEGMENT_COLUMNS], segments, "segments"),
              "</body></html>"]
    return "\n".join(parts) + "\n"
