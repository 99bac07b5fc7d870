"""The leaderboard as one self-contained HTML page: the tables and an inline SVG bar chart (no external assets)."""

from __future__ import annotations

from html import escape

from actionbench.leaderboard.formats import (
    MAIN_TITLE,
    OR_TITLE,
    RELATION_TITLE,
    SIG_MARK,
    interval_rows,
    legend,
    method_text,
)
from actionbench.leaderboard.table import CHANCE, Cell, Column, Leaderboard, entry_details

# One colour per column of the main table (AA/VR x dataset), colour-blind friendly (Okabe-Ito).
PALETTE = ("#0072B2", "#56B4E9", "#D55E00", "#E69F00", "#009E73", "#CC79A7", "#F0E442", "#999999")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #1a1a1a;
       background: #ffffff; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.92rem; }
th, td { padding: 0.3rem 0.7rem; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f2f4f7; border-bottom: 2px solid #999; }
td.text, th.text { text-align: left; }
tr.group-start td { border-top: 2px solid #999; }
td.best { font-weight: bold; }
.measured { color: #0b6e4f; font-weight: 600; }
.reported { color: #666; }
.sig { color: #b00020; }
ul.legend { color: #444; font-size: 0.88rem; }
svg text { font-family: system-ui, sans-serif; font-size: 11px; fill: #333; }
"""


def safe_url(url: str) -> bool:
    """Only http(s) links become live links (never `javascript:`, `data:` and the like)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and url.isprintable()


def _td(cell: Cell, plain: bool) -> str:
    classes = ["best"] if cell.best and not plain else []
    mark = f'<span class="sig" title="p (Holm) = {cell.comparison.p_holm:.3g}">{SIG_MARK}</span>' \
        if cell.significant and cell.comparison else ""
    title = f' title="95% interval {cell.ci95[0]:.1f}–{cell.ci95[1]:.1f}"' if cell.ci95 else ""
    cls = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{cls}{title}>{escape(cell.text)}{mark}</td>"


def _main_table(board: Leaderboard, plain: bool) -> list[str]:
    head = ["Backbone", "Method [patcher loss]", "Trainable params", "Source",
            *[c.label for c in board.columns], "Avg"]
    out = ['<table id="leaderboard">', "<thead><tr>" + "".join(
        f'<th class="{"text" if i < 4 else "num"}">{escape(h)}</th>' for i, h in enumerate(head)) + "</tr></thead>",
        "<tbody>"]
    for group in board.groups:
        for i, r in enumerate(group.rows):
            cls = "entry group-start" if i == 0 else "entry"
            out.append(
                f'<tr class="{cls}" data-entry="{escape(r.entry.name)}" data-source="{r.source}">'
                f'<td class="text">{escape(r.backbone)}</td><td class="text">{escape(r.method)}</td>'
                f'<td class="text">{escape(r.params)}</td>'
                f'<td class="text {r.source}">{r.source}</td>'
                + "".join(_td(r.cells[c], plain) for c in board.columns) + _td(r.avg, plain) + "</tr>"
            )
    out += ["</tbody>", "</table>"]
    return out


def _simple_table(table_id: str, header: list[str], rows: list[list[str]]) -> list[str]:
    out = [f'<table id="{table_id}"><thead><tr>' + "".join(f'<th class="text">{escape(h)}</th>' for h in header)
           + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f'<td class="text">{escape(c)}</td>' for c in r) + "</tr>" for r in rows]
    out.append("</tbody></table>")
    return out


def bar_chart(board: Leaderboard) -> str:
    """Grouped bars: one group per entry, one bar per AA/VR column, a dashed line at chance (50%)."""
    columns: list[Column] = board.columns
    rows = board.rows
    bar_w, gap, top, left, height = 12, 18, 30, 44, 220
    label_room = 210  # rotated model names hang below and to the right of the last group
    group_w = max(1, len(columns)) * bar_w + gap
    plot_right = left + len(rows) * group_w + 60
    width = plot_right + label_room
    total_h = top + height + label_room
    y = lambda v: top + height - height * v / 100.0  # noqa: E731  (value in % -> pixel row)
    parts = [f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
             f'viewBox="0 0 {width} {total_h}" role="img" aria-label="AA and VR accuracy per model">']
    parts.append(f'<rect x="0" y="0" width="{width}" height="{total_h}" fill="#ffffff"/>')
    for tick in range(0, 101, 25):
        parts.append(f'<line x1="{left}" x2="{plot_right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for gi, r in enumerate(rows):
        x0 = left + gi * group_w + gap / 2
        for ci, c in enumerate(columns):
            cell = r.cells[c]
            if cell.value is None:
                continue
            v = CHANCE if cell.temporally_blind else float(cell.value)
            faded = ' fill-opacity="0.35"' if cell.temporally_blind else ""
            parts.append(
                f'<rect class="bar" data-model="{escape(r.entry.name)}" data-task="{escape(c.key)}" '
                f'x="{x0 + ci * bar_w:.1f}" y="{y(v):.1f}" width="{bar_w - 2}" height="{y(0) - y(v):.1f}" '
                f'fill="{PALETTE[ci % len(PALETTE)]}"{faded}>'
                f"<title>{escape(r.entry.submission.model)} — {escape(c.label)}: {escape(cell.text)}</title></rect>"
            )
        label = escape(f"{r.backbone} {r.method}".strip())
        lx = x0 + len(columns) * bar_w / 2
        parts.append(f'<text x="{lx:.1f}" y="{y(0) + 10:.1f}" transform="rotate(45 {lx:.1f} {y(0) + 10:.1f})">'
                     f"{label}</text>")
    parts.append(f'<line class="chance" x1="{left}" x2="{plot_right}" y1="{y(CHANCE):.1f}" y2="{y(CHANCE):.1f}" '
                 'stroke="#b00020" stroke-width="1.5" stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{plot_right + 4}" y="{y(CHANCE) + 4:.1f}" fill="#b00020">chance (50%)</text>')
    for ci, c in enumerate(columns):  # legend
        lx = left + ci * 90
        parts.append(f'<rect x="{lx}" y="8" width="10" height="10" fill="{PALETTE[ci % len(PALETTE)]}"/>')
        parts.append(f'<text x="{lx + 14}" y="17">{escape(c.label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def to_html(board: Leaderboard, *, plain: bool = False, title: str = "ActionBench leaderboard") -> str:
    """A single page with the tables, the chart and the provenance of every row."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{escape(title)}</h1>", f"<h2>{escape(MAIN_TITLE)}</h2>", *_main_table(board, plain),
           "<h2>AA and VR accuracy per model</h2>", bar_chart(board)]
    or_rows = [r for r in board.rows if any(r.cells[c].value is not None for c in board.or_columns)]
    out.append(f"<h2>{escape(OR_TITLE)}</h2>")
    if or_rows:
        out += _simple_table("object-replacement", ["Backbone", "Method [patcher loss]",
                                                    *[c.label for c in board.or_columns]],
                             [[r.backbone, method_text(r), *[r.cells[c].text for c in board.or_columns]]
                              for r in or_rows])
    else:
        out.append("<p>No entry reports Object Replacement.</p>")
    if board.relation_columns:
        out.append(f"<h2>{escape(RELATION_TITLE)}</h2>")
        out += _simple_table("aa-relations", ["Backbone", "Method [patcher loss]",
                                              *[c.label for c in board.relation_columns]],
                             [[r.backbone, method_text(r), *[r.cells[c].text for c in board.relation_columns]]
                              for r in board.rows])
    columns, ci_rows = interval_rows(board)
    if ci_rows:
        out.append("<h2>95% intervals</h2>")
        out += _simple_table("intervals", ["Backbone", "Method [patcher loss]", *[c.label for c in columns]],
                             [[r.backbone, method_text(r), *texts] for r, texts in ci_rows])
    if board.comparisons:
        by_name = {r.entry.name: r for r in board.rows}
        out.append("<h2>Differences from the backbone row (paired bootstrap, Holm-corrected)</h2>")
        out += _simple_table("comparisons", ["Entry", "Task", "Δ (points)", "95% interval", "p", "p (Holm)"],
                             [[method_text(by_name[c.a]), Column(c.dataset, c.task).label, f"{c.diff:+.1f}",
                               f"[{c.ci95[0]:.1f}, {c.ci95[1]:.1f}]", f"{c.p:.3g}", f"{c.p_holm:.3g}"]
                              for c in board.comparisons])
    out.append("<h2>Entries</h2>")
    details = [entry_details(r.entry) for r in board.rows]
    out.append('<table id="entries"><thead><tr>' + "".join(
        f'<th class="text">{h}</th>' for h in ("Entry", "Source", "Model", "Reference", "Run by", "Date", "Ties"))
        + "</tr></thead><tbody>")
    for d in details:
        ref = escape(d["reference"])
        if safe_url(d["url"]):
            ref = f'<a href="{escape(d["url"], quote=True)}" rel="nofollow noopener">{ref}</a>'
        cells = [escape(d["entry"]), escape(d["source"]), escape(d["model"]), ref, escape(d["ran_by"]),
                 escape(d["date"]), escape(d["ties"])]
        out.append("<tr>" + "".join(f'<td class="text">{c}</td>' for c in cells) + "</tr>")
    out.append("</tbody></table>")
    out.append('<ul class="legend">' + "".join(f"<li>{escape(line)}</li>" for line in legend(board)) + "</ul>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
