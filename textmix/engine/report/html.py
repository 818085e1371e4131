"""The report as one self-contained HTML file (``textmix report ... --html``): the same tables as
README.md (rendered by ``markdown``), every figure embedded as a PNG data URI, a contents list
linking every section, table and figure, and tables sorted by a click on a column header (numbers
by their leading value, so "85.08 ± 0.34" sorts as 85.08). One file to mail, attach or open offline.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from pathlib import Path

import markdown

from textmix.core.atomic_files import atomic_write_text

REPORT_HTML = "report.html"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 1em 2em; color: #222; }
nav { border: 1px solid #ddd; padding: 0.5em 1.5em; margin-bottom: 2em; font-size: 14px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
th { background: #f3f3f3; cursor: pointer; position: sticky; top: 0; }
th[aria-sort="ascending"]::after { content: " \\25B2"; } th[aria-sort="descending"]::after { content: " \\25BC"; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #555; } h3 { margin-top: 2em; }
"""

# a click on a header sorts the table's rows by that column; again reverses; numbers numerically
SORT_SCRIPT = """
function cellKey(row, column) {
  const text = row.cells[column] ? row.cells[column].textContent.trim() : "";
  const number = parseFloat(text.replace(/^[\\[(]/, "").replace("\\u2212", "-"));
  return isNaN(number) ? text.toLowerCase() : number;
}
function sortBy(header) {
  const table = header.closest("table"), body = table.tBodies[0], column = header.cellIndex;
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th").forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = cellKey(a, column), y = cellKey(b, column);
    const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
    return ascending ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
}
document.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => sortBy(th)));
"""


def figure_html(folder: Path, name: str) -> str:
    data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    anchor = html.escape(f"figure-{Path(name).stem}")
    return (f'<figure id="{anchor}"><img src="data:{kind};base64,{data}" alt="{html.escape(name)}">'
            f"<figcaption>{html.escape(name)}</figcaption></figure>")  # fmt: skip


def write_html(out: Path, text: str, figures: list[str], title: str = "textmix report") -> Path:
    """``out``/report.html from the report's markdown ``text`` and the PNG ``figures`` in ``out``."""
    converter = markdown.Markdown(extensions=["tables", "toc"], extension_configs={"toc": {"toc_depth": "2-3"}})
    body = converter.convert(text)
    parts = body.split("<table>")  # each table an anchor of its own: "table-3" in a link or a note
    body = parts[0] + "".join(f'<table id="table-{i}">{part}' for i, part in enumerate(parts[1:], 1))
    figure_links = "".join(
        f'<li><a href="#figure-{html.escape(Path(n).stem)}">{html.escape(n)}</a></li>' for n in figures
    )
    contents = converter.toc + (f"<p>Figures</p><ul>{figure_links}</ul>" if figures else "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1><nav><p>Contents</p>{contents}</nav>
{body}
<h2 id="figures">Figures</h2>
{"".join(figure_html(out, name) for name in figures)}
<script>{SORT_SCRIPT}</script></body></html>
"""
    return atomic_write_text(out / REPORT_HTML, page)
