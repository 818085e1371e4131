"""``textmix report --html``: one self-contained file (every figure embedded, nothing fetched, a
contents list whose every link lands, sortable tables), checked in a real browser where one is
installed: headless Chromium loads every figure, sorts a table on a click and logs no error."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from textmix.cli import main


class Page(HTMLParser):
    """The ids, links, image sources and tables of an HTML page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.links, self.images, self.tables, self.sources = set(), [], [], 0, []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a":
            self.links.append(attrs.get("href", ""))
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("script", "link", "iframe") and ("src" in attrs or "href" in attrs):
            self.sources.append(attrs.get("src") or attrs.get("href"))
        self.tables += tag == "table"


@pytest.fixture(scope="module")
def html_report(mr_predictions, small_mr_run, tmp_path_factory):
    """The report of two real MR runs (a mixup model and a baseline): README.md and report.html."""
    out = tmp_path_factory.mktemp("report") / "report"
    assert main(["report", str(mr_predictions["run"]), str(small_mr_run), "--out", str(out), "--html"]) == 0
    return out


def test_the_html_report_is_one_file_with_every_figure_table_and_link(html_report):
    text = (html_report / "report.html").read_text()
    page = Page(text)
    figures = json.loads((html_report / "results.json").read_text())["figures"]
    assert len(figures) >= 4 and len(page.images) == len(figures)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)  # embedded, nothing fetched
    assert page.sources == [] and not re.search(r"""(src|href)=["']https?:""", text)
    readme = (html_report / "README.md").read_text()
    assert page.tables == readme.count("\n|---") >= 3  # every table of README.md
    anchors = [link[1:] for link in page.links if link.startswith("#")]
    assert len(anchors) >= page.tables and set(anchors) <= page.ids  # the contents list: every link lands
    assert {f"figure-{Path(name).stem}" for name in figures} <= set(anchors)
    assert {f"table-{i}" for i in range(1, page.tables + 1)} <= page.ids


def chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


# injected first: every error and console.error is kept; after load, each image's state, a click on
# a numeric column's header and the rows' order are written into the page for --dump-dom to show
PROBE_HEAD = """<script>window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message || e.target.src || e)), true);
const consoleError = console.error;
console.error = (...a) => { window.__errors.push(a.join(" ")); consoleError(...a); };
</script>"""
PROBE_END = """<script>window.addEventListener("load", () => {
  const images = Array.from(document.images).map((i) => i.complete && i.naturalWidth > 0);
  const table = document.getElementById("table-1"), header = table.tHead.rows[0].cells[2];
  const column = () => Array.from(table.tBodies[0].rows).map((r) => parseFloat(r.cells[2].textContent));
  header.click();
  const up = column(), sort = header.getAttribute("aria-sort");
  header.click();
  const out = document.createElement("pre"); out.id = "probe";
  out.textContent = JSON.stringify({images, up, down: column(), sort, errors: window.__errors});
  document.body.appendChild(out);
});</script>"""


@pytest.mark.slow
def test_the_html_report_renders_in_headless_chromium(html_report, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium: apt-get install chromium (CI installs it)")
    text = (html_report / "report.html").read_text()
    probed = tmp_path / "report.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>", PROBE_END + "</body>"))
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                             "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stderr[-3000:]
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    figures = json.loads((html_report / "results.json").read_text())["figures"]
    assert probe["images"] == [True] * len(figures)  # every figure decoded and drawn
    assert probe["errors"] == [] and probe["sort"] == "ascending"
    assert probe["up"] == sorted(probe["up"]) and probe["down"] == sorted(probe["up"], reverse=True)
    assert len(set(probe["up"])) > 1  # two different accuracies: the second click reordered the rows
