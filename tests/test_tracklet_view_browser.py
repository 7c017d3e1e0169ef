"""The tracklet view in a real headless Chromium (Debian's chromium through Playwright):
open the page, move the cursor, click Swap from here, Save, check the tracks file."""

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


@pytest.fixture
def page_and_file(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, Path]]:  # noqa: F811
    config, tracks = make_tracks_project(tmp_path)
    with TrackLabeler(tracks, config) as lab:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(lab.url)
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        yield page, tracks
        page.close()
        assert not errors, errors


def test_swap_from_here_and_save(page_and_file: tuple[Any, Path]) -> None:
    page, tracks = page_and_file
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
    for _ in range(100):  # poll from Python: the page's CSP forbids wait_for_function's eval
        if page.evaluate(shown):
            break
        page.wait_for_timeout(50)
    assert page.evaluate(shown)
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
