"""The tracklet view in a real headless Chromium (Debian's chromium through Playwright):
open the page, move the cursor, click Swap from here, Save, check the tracks file; mark
frames for training (T, Shift+T) and add them to the training data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_labeler_browser import browser  # noqa: F401 (the shared chromium fixture)
from tracks_helpers import make_tracks_project

from dlcflow.labeler.tracks import backup_path
from dlcflow.labeler.trackserver import TrackLabeler
from dlcflow.project.paths import Project, frame_name


@pytest.fixture
def page_and_files(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, Path, Path]]:  # noqa: F811
    config, tracks = make_tracks_project(tmp_path)
    with TrackLabeler(tracks, config) as lab:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(lab.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        yield page, tracks, config
        page.close()
        assert not errors, errors


def poll(page: Any, script: str) -> bool:
    """Whether ``script`` turns true within 5 s (polled from Python: the page's CSP
    forbids wait_for_function's eval)."""
    for _ in range(100):
        if page.evaluate(script):
            return True
        page.wait_for_timeout(50)
    return bool(page.evaluate(script))


def test_swap_from_here_and_save(page_and_files: tuple[Any, Path, Path]) -> None:
    page, tracks, _config = page_and_files
    before = pd.read_hdf(tracks)
    assert page.locator("#timelines canvas").count() == 4  # mouse1..3 and single
    # the timelines are drawn (pixels set) from the server's summaries
    drawn = page.evaluate(
        """() => { const c = document.querySelector('#timelines canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }"""
    )
    assert drawn > 0
    page.select_option("#ind-a", "mouse1")
    page.select_option("#ind-b", "mouse3")
    page.fill("#cursor", "20")
    page.locator("#cursor").dispatch_event("change")
    shown = "() => window.tracks.state.cursor === 20 && window.tracks.state.frame.frame === 20"
    assert poll(page, shown)
    page.click("#swap-from-btn")
    page.wait_for_selector("#status[data-state='dirty']")
    page.click("#save-btn")
    page.wait_for_selector("#status[data-state='saved']")
    after = pd.read_hdf(tracks)
    assert after.columns.equals(before.columns)

    def block(df: pd.DataFrame, ind: str) -> np.ndarray:
        return df.xs(ind, axis=1, level="individuals").to_numpy()

    np.testing.assert_array_equal(block(after, "mouse1")[:20], block(before, "mouse1")[:20])
    np.testing.assert_array_equal(block(after, "mouse1")[20:], block(before, "mouse3")[20:])
    np.testing.assert_array_equal(block(after, "mouse3")[20:], block(before, "mouse1")[20:])
    np.testing.assert_array_equal(block(after, "mouse2"), block(before, "mouse2"))
    assert backup_path(tracks).is_file()
    # keys: undo (Ctrl+Z) then save (Ctrl+S) gives back the original values
    page.keyboard.press("Control+z")
    page.wait_for_selector("#status[data-state='dirty']")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#status[data-state='saved']")
    pd.testing.assert_frame_equal(pd.read_hdf(tracks), before)


def test_mark_frames_and_add_them_to_the_training_data(
    page_and_files: tuple[Any, Path, Path],
) -> None:
    page, tracks, config = page_and_files
    page.evaluate("() => window.tracks.setCursor(5)")
    assert poll(page, "() => window.tracks.state.frame.frame === 5")
    page.keyboard.press("t")  # the current frame
    page.wait_for_selector("#marked-count:text('1 marked')")
    page.fill("#range-start", "10")
    page.fill("#range-stop", "12")
    page.click("#timelines canvas", position={"x": 1, "y": 1})  # focus off the fields
    page.evaluate("() => window.tracks.setCursor(5)")
    page.keyboard.press("Shift+T")  # the range from..to
    page.wait_for_selector("#marked-count:text('4 marked')")
    # the marks are drawn on the strip above the timelines
    drawn = page.evaluate(
        """() => { const c = document.getElementById('marks-canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 1; i < d.length; i += 4) n += d[i] > 150; return n; }"""
    )
    assert drawn > 0
    page.click("#train-btn")
    page.wait_for_selector("#status[data-state='added']", timeout=30000)
    status = page.text_content("#status")
    assert "added 4 frame(s)" in status and "dlcflow refine" in status and "dlcflow merge" in status
    assert page.text_content("#marked-count") == "0 marked"
    project = Project(config)
    nframes = len(pd.read_hdf(tracks))
    frames = [5, 10, 11, 12]
    pngs = sorted(p.name for p in project.labeled_folder("mice1").glob("*.png"))
    assert pngs == [frame_name(i, nframes) for i in frames]
    labels = pd.read_hdf(project.machine_labels("mice1"))
    assert [row[2] for row in labels.index] == pngs and labels.columns.nlevels == 4
    assert backup_path(tracks).is_file()  # saved first


def test_trail_and_swaps_of_refine_tracklets(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    """DLC's refine_tracklets options: the frame view draws the trail; a swap of two mice
    over frames 10..14 crosses every body-part pair twice, marked and reached with N."""
    config, tracks = make_tracks_project(tmp_path)
    with TrackLabeler(tracks, config, trail_len=20, min_swap_len=1, max_gap=0) as lab:
        lab.session.swap("mouse1", "mouse3", 10, 14)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(lab.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        assert page.evaluate("() => window.tracks.state.swaps.frames") == [9, 14]
        ticks = page.evaluate(
            """() => { const c = document.getElementById('swaps-canvas');
                       const d = c.getContext('2d').getImageData(0, 0, c.width, 1).data;
                       let n = 0;
                       for (let i = 0; i < d.length; i += 4) n += d[i] > 200 && d[i + 1] > 150;
                       return n; }"""
        )
        assert ticks >= 4  # two yellow ticks on the swaps strip
        page.click("#timelines canvas", position={"x": 1, "y": 1})  # cursor near 0
        page.evaluate("() => window.tracks.setCursor(0)")
        page.keyboard.press("n")
        assert poll(page, "() => window.tracks.state.frame.frame === 10")
        # A and B: the first pair crossing there (the exchange moves mouse2's pairs too)
        pairs = lab.session.swaps()["pairs"]
        first = next(p["individuals"] for p in pairs if 9 in p["frames"])
        assert page.evaluate("() => [window.tracks.state.a, window.tracks.state.b]") == first
        assert {"mouse1", "mouse3"} in [set(p["individuals"]) for p in pairs]
        # W: that pair's body parts exchanged from this crossing to the next (frames 10..14)
        pair = next(p for p in pairs if 9 in p["frames"])
        page.keyboard.press("w")
        page.wait_for_selector("#status[data-state='dirty']")
        assert poll(page, "() => window.tracks.state.timeline.nedits === 2")
        last = lab.session.edits[-1].describe()
        assert last == {"op": "swap_parts", "individuals": pair["individuals"],
                        "bodyparts": pair["bodyparts"], "start": 10, "stop": 14}  # fmt: skip
        page.keyboard.press("n")
        assert poll(page, "() => window.tracks.state.frame.frame === 15")
        page.keyboard.press("p")
        assert poll(page, "() => window.tracks.state.frame.frame === 10")
        # the trail: the frame drawn with and without it differs along the trail
        changed = page.evaluate(
            """() => { const t = window.tracks, c = document.getElementById('frame-canvas');
                       const ctx = c.getContext('2d');
                       const px = () => ctx.getImageData(0, 0, c.width, c.height).data;
                       const trail = t.state.frame.trail, on = px();
                       delete t.state.frame.trail; t.drawFrame(); const off = px();
                       t.state.frame.trail = trail; t.drawFrame();
                       let n = 0;
                       for (let i = 0; i < on.length; i += 4)
                         n += on[i] !== off[i] || on[i + 1] !== off[i + 1];
                       return [n, trail.start, trail.stop]; }"""
        )
        assert changed[0] > 100 and changed[1:] == [0, 20]
        page.close()
        assert not errors, errors
