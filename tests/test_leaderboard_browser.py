"""The HTML leaderboard in a real headless browser: the DOM has every row and bar, the page is not blank.

Needs Debian's `chromium`. Skipped where it is absent, except under CI (the environment variable `CI` set),
where a missing browser is a failure: CI installs it, and a silently skipped check proves nothing.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from actionbench.leaderboard import load_leaderboard, render

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "submissions"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.slow


def find_chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        message = "chromium is not installed (Debian: apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser test")
        pytest.skip(message)
    return path


def run_chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=True)


class _Counter(HTMLParser):
    """Counts leaderboard rows and chart bars in the DOM the browser built."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.bars: list[tuple[str, str]] = []
        self.chance_lines = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tr" and "entry" in classes:
            self.rows.append(a.get("data-entry") or "")
        if tag == "rect" and "bar" in classes:
            self.bars.append((a.get("data-model") or "", a.get("data-task") or ""))
        if tag == "line" and "chance" in classes:
            self.chance_lines += 1


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what chromium writes) into rows of raw pixels, with zlib only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), f"unexpected PNG format (depth {depth}, colour type {color})"
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG row filters
            left = line[i - channels] if i >= channels else 0
            up, ul = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + left) & 0xFF
            elif f == 2:
                line[i] = (line[i] + up) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif f == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, channels, rows


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "leaderboard.html"
    path.write_text(render(load_leaderboard(SUBMISSIONS), "html"), encoding="utf-8")
    return path


def test_the_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    # Nothing is fetched: no src= attributes, stylesheets, imports or CSS urls (links to papers are fine).
    for external in ("src=", "<link", "@import", "url(", "<script"):
        assert external not in text


def test_the_browser_dom_has_one_row_per_submission_and_one_bar_per_model_and_task(page, tmp_path):
    browser = find_chromium()
    dom = run_chromium(browser, tmp_path, "--dump-dom", page.as_uri()).stdout
    counter = _Counter()
    counter.feed(dom)
    names = sorted(p.name for p in SUBMISSIONS.iterdir() if (p / "results.json").is_file()
                   and not p.name.startswith("paper-downstream-"))  # Table 2's rows are not on the Table 1 page
    assert sorted(counter.rows) == names
    tasks = {"aa_ego4d", "vr_ego4d", "aa_ssv2", "vr_ssv2"}
    assert sorted(counter.bars) == sorted((n, t) for n in names for t in tasks)
    assert counter.chance_lines == 1


def test_the_browser_screenshot_is_not_blank(page, tmp_path):
    browser = find_chromium()
    shot = tmp_path / "page.png"
    run_chromium(browser, tmp_path, "--window-size=1400,1100", "--hide-scrollbars", f"--screenshot={shot}",
                 page.as_uri())
    try:  # Pillow (installed with torchvision) is fast; the zlib decoder needs nothing
        from PIL import Image

        with Image.open(shot) as img:
            rgb = img.convert("RGB")
            data, stride = rgb.tobytes(), rgb.width * 3
            width, channels, rows = rgb.width, 3, [data[y * stride:(y + 1) * stride] for y in range(rgb.height)]
    except ImportError:
        width, channels, rows = png_pixels(shot)
    colours = {row[i:i + 3] for row in rows[::4] for i in range(0, width * channels, channels * 4)}
    assert len(colours) > 20, "the screenshot is (nearly) one colour"
    # The bar chart is drawn: the palette's first colour (#0072B2) appears on screen.
    assert any(abs(c[0] - 0x00) < 8 and abs(c[1] - 0x72) < 8 and abs(c[2] - 0xB2) < 8 for c in colours)
