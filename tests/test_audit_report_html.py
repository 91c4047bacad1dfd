"""``sandbox.html_report``: the auditor's page, escaped, and rendered by a real headless Chromium.

The browser test takes its screenshot in a temporary folder (a test run leaves
the working tree as it was). Without Chromium it fails (never skips): ``./dev browser`` (``.ci/run`` does) installs it from Debian's packages.
"""
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from das.sandbox import verify_program
from das.sandbox.density import COLORS
from das.sandbox.html_report import escape, render, write_report

PROGRAMS = Path(__file__).parent / "programs"
COPIER = PROGRAMS / "buggy" / "copies_training_rows.py"
HOSTILE = (
    "import os  # </script><script>alert(1)</script>\n"
    "def generate_hard_anomalies(n_samples, model, X_train):\n"
    "    s = '\x1b[2J\x1b]0;pwned\x07 <img src=x onerror=alert(2)>'  # \u202e reversed\n"
    "    return X_train[:n_samples]\n"
)


def _chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium not found: the HTML report is checked in a real browser; "
                    "install it with `./dev browser` (apt-get install chromium)")
    return path


def _browser(page, *args):
    """Run headless Chromium on the file ``page`` with ``args``; return stdout."""
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={page.parent / 'chromium-profile'}", *args, page.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(page.parent)})
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@pytest.fixture(scope="module")
def hostile_page():
    return render(HOSTILE, verify_program(HOSTILE, "IForest").to_dict(), "hostile.py")


def test_program_text_cannot_open_a_tag(hostile_page):
    assert "<script" not in hostile_page.lower()
    assert "<img src=x" not in hostile_page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_page


def test_control_and_bidi_characters_are_shown_not_interpreted(hostile_page):
    assert "\x1b" not in hostile_page and "\x07" not in hostile_page and "\u202e" not in hostile_page
    assert "<mark>\\x1b</mark>[2J<mark>\\x1b</mark>]0;pwned<mark>\\x07</mark>" in hostile_page
    assert "<mark>\\u202e</mark>" in hostile_page


def test_the_page_forbids_scripts_and_fetches(hostile_page):
    assert "Content-Security-Policy" in hostile_page and "default-src 'none'" in hostile_page


def test_findings_are_marked_on_their_line(hostile_page):
    first_line = re.search(r'<ol class="src"><li class="flagged" id="L1">[^<]*'
                           r'(<span class="finding">[^<]*</span>)<li>', hostile_page)
    assert first_line and 'import-not-allowed: import of "os" is not allowed' in first_line.group(1)


def test_escape_marks_every_invisible_character():
    assert escape("a\u200bb\x00\x01<\"") == "a<mark>\\u200b</mark>b<mark>\\x00\\x01</mark>&lt;\""


@pytest.mark.parametrize("unit", ["\x01", "a\x01", "&\x01", "\n\x01", "\n", "<", "&", "\u202e", "\U000e0041x",
                                  "    x.__class__\n", "import os\n", "é\x1b"])
def test_page_size_is_bounded_by_the_program_size(unit):
    """2 MB of control characters made a page 57 times the program's size."""
    from das.sandbox.html_report import MAX_FIXED_BYTES, MAX_SIZE_RATIO

    source = ("def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train[:n_samples]\n"
              + unit * (200_000 // len(unit)))
    report = {"passed": False, "detector": "IForest", "seed": 0, "properties": [
        {"name": "finite", "passed": False, "value": 1, "threshold": 0, "detail": "x" * 2000}]}
    page = render(source, report, "big.py").encode()
    program = source.encode()
    assert len(page) <= MAX_SIZE_RATIO * len(program) + MAX_FIXED_BYTES
    assert len(page) - len(render("", report, "big.py").encode()) <= MAX_SIZE_RATIO * len(program)


def _pixels_near(image, hex_color, tol=12):
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image[..., :3].astype(int) - rgb) <= tol).all(axis=-1).sum())


def test_report_renders_in_headless_chromium(tmp_path):
    from matplotlib.image import imread

    source = COPIER.read_text()
    report = verify_program(source, "IForest", seed=1).to_dict()
    page = write_report(tmp_path, COPIER.name, source, report)
    assert page == tmp_path / "copies_training_rows.py.html"

    dom = _browser(page, "--dump-dom")
    assert 'id="verdict">REJECTED' in dom
    for line in source.splitlines():
        if line.strip():
            assert html.escape(line, quote=False) in dom  # every source line is on the page (as text)
    assert "failed properties: novel" in dom  # marked on the function's line
    assert re.search(r"<td>novel</td><td>FAIL</td><td>[\d.]+</td><td>0.05</td>", dom)
    assert re.search(r'<img id="density" alt="score densities" src="data:image/svg\+xml;base64,', dom)

    screenshot = tmp_path / "audit_report.png"
    # the virtual time budget lets the page (the figure's image decoding) settle before the shot:
    # under load the shot was once taken with the figure half drawn
    # a tall window: a report whose text runs a few lines longer must not push the figure off the shot
    _browser(page, "--window-size=1100,4000", "--virtual-time-budget=10000", f"--screenshot={screenshot}")
    shot = (imread(screenshot) * 255).astype(np.uint8)
    # the figure was decoded and drawn: the three groups' colours are on screen
    for label, color in COLORS.items():
        assert _pixels_near(shot, color) > 200, f"{label} curve ({color}) not visible in the screenshot"
