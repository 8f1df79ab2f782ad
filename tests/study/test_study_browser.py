"""The trial page in a real browser: Debian's headless Chromium driven by Playwright.

Loads a trial, moves the mouse over the original (the magnifier must appear and show the real
pixels under the cursor, in all three panes), answers with the keyboard, and checks that the vote
is in the database. The browser and the driver are installed by `browser` below when missing
(`apt-get install chromium` as root, `pip install playwright`); the test skips, saying why, only
when that is impossible. Set SALICODEC_STUDY_SCREENSHOT=path.png to keep a screenshot of the trial.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from salicodec.study import db

PLAYWRIGHT = "playwright==1.65.2"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _install(cmd: list[str], timeout: int) -> str | None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{' '.join(cmd[:3])}: {e}"
    return None if r.returncode == 0 else f"{' '.join(cmd[:3])} failed: {(r.stderr or r.stdout)[-300:]}"


@pytest.fixture(scope="module")
def browser():
    """Chromium + Playwright, installed here when missing (CI runs as root with the registries)."""
    chromium = _chromium()
    if chromium is None:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("Chromium is not installed and cannot be (needs root and apt-get): apt-get install chromium")
        err = _install(["apt-get", "update", "-qq"], 600) or _install(["apt-get", "install", "-y", "-q", "chromium"], 900)
        chromium = _chromium()
        if chromium is None:
            pytest.skip(f"could not install Chromium: {err}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        err = _install([sys.executable, "-m", "pip", "install", "-q", PLAYWRIGHT], 600)
        try:
            import playwright.sync_api  # noqa: F401,F811
        except ImportError:
            pytest.skip(f"could not install {PLAYWRIGHT}: {err}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p, chromium


@pytest.mark.timeout(1800)  # includes installing Chromium on a fresh machine
def test_trial_in_headless_chromium(browser, server, tmp_path):
    p, chromium = browser
    tok = server.tokens(1)[0]
    # A fresh profile for this run: nothing cached, nothing from an earlier session.
    ctx = p.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 860},
    )
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.url}/s/{tok}/")
        assert "closer to the original" in page.inner_text("h1")
        page.click("#start")
        page.wait_for_selector("body[data-state=ready]", timeout=30_000)
        pres_id = int(page.get_attribute("body", "data-presentation"))
        assert page.inner_text("#progress-text") == "0 / 12"
        assert not page.is_visible("#magnifier")  # nothing magnified before the mouse is on an image

        # Move over the original at 30 % / 60 % of its size: the magnifier shows that spot in all panes.
        box = page.locator("#img-original").bounding_box()
        info = server.study.images[next(iter(server.study.images))]
        W, H = info["width"], info["height"]
        page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + 0.1 * box["height"])
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.6 * box["height"], steps=5)
        page.wait_for_selector("body.magnifying", timeout=10_000)
        assert page.is_visible("#magnifier") and page.is_visible("#mag-left") and page.is_visible("#mag-right")
        cx = int(page.get_attribute("#magnifier", "data-x"))
        cy = int(page.get_attribute("#magnifier", "data-y"))
        assert abs(cx - 0.3 * W) <= 2 and abs(cy - 0.6 * H) <= 2
        lens = page.locator(".pane:first-child .lens").bounding_box()
        left_img = page.locator("#img-left").bounding_box()
        assert lens is not None and lens["width"] > 4
        assert abs((lens["x"] + lens["width"] / 2 - left_img["x"]) / left_img["width"] - cx / W) < 0.05

        # The canvases hold the real pixels: the centre of the original's magnifier is the original
        # image's pixel under the cursor (nearest-neighbour zoom, so up to one pixel off).
        centres = page.evaluate("""() => Object.fromEntries(['left', 'original', 'right'].map(s => {
            const c = document.getElementById('mag-' + s);
            const d = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
            return [s, [d[0], d[1], d[2], d[3]]];
        }))""")
        conn = db.connect(server.study.db_path)
        pres = db.presentation(conn, db.participant_id(conn, tok), pres_id)
        original = np.asarray(Image.open(server.study.original(pres.trial.image)).convert("RGB")).astype(int)
        window = original[max(cy - 2, 0): cy + 3, max(cx - 2, 0): cx + 3].reshape(-1, 3)
        assert centres["original"][3] == 255
        assert np.abs(window - np.array(centres["original"][:3])).sum(axis=1).min() <= 6
        assert centres["left"][3] == 255 and centres["right"][3] == 255

        if os.environ.get("SALICODEC_STUDY_SCREENSHOT"):
            page.screenshot(path=os.environ["SALICODEC_STUDY_SCREENSHOT"])
        page.screenshot(path=str(tmp_path / "trial.png"))
        assert (tmp_path / "trial.png").stat().st_size > 10_000

        # Answer with the keyboard; the next trial appears only once the vote is committed.
        page.keyboard.press("ArrowRight")
        # (selectors, not wait_for_function: the page's CSP rightly forbids eval)
        page.wait_for_selector(f'body[data-state=ready]:not([data-presentation="{pres_id}"])', timeout=30_000)
        assert page.inner_text("#progress-text") == "1 / 12"
        votes = conn.execute("SELECT * FROM votes").fetchall()
        assert len(votes) == 1
        v = votes[0]
        assert (v["presentation_id"], v["chosen_side"], v["chosen_codec"]) == (pres_id, "right", pres.right_codec)
        assert v["response_ms"] > 0
        # "a" answers left
        second = int(page.get_attribute("body", "data-presentation"))
        page.keyboard.press("a")
        page.wait_for_selector(f'body[data-state=ready]:not([data-presentation="{second}"])', timeout=30_000)
        row = conn.execute("SELECT chosen_side FROM votes WHERE presentation_id = ?", (second,)).fetchone()
        conn.close()
        assert row["chosen_side"] == "left"
        assert errors == []
    finally:
        ctx.close()
