"""End-to-end tests of the labeling page in a real headless Chromium (Debian's chromium,
driven by Playwright). CI installs chromium (.ci/run); without it these tests fail."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dlcflow.devtools.demo import make_demo_project
from dlcflow.io.labels import row_index, write_machine_labels
from dlcflow.io.tables import pose_columns
from dlcflow.labeler import Labeler
from dlcflow.labeling.frames import extract_frames
from dlcflow.project.config import read_config, write_config
from dlcflow.project.paths import Project

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-device-scale-factor=1",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright; fails (not skips) when missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium "
            "chromium-driver), as .ci/run does"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = make_demo_project(
        tmp_path_factory.mktemp("demo"), n_videos=1, nframes=60, numframes2pick=5, size=(160, 120)
    )
    extract_frames(config)
    return config


@pytest.fixture
def config(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / template.parent.name
    shutil.copytree(template.parent, root, symlinks=True)
    return root / "config.yaml"


def _client_xy(page: Any, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image point (x, y) in the current view."""
    return tuple(
        page.evaluate(
            """([x, y]) => {
                const p = window.labeler.view.toCanvas(x, y);
                const r = document.getElementById("canvas").getBoundingClientRect();
                return [r.left + p.cx, r.top + p.cy];
            }""",
            [x, y],
        )
    )


def _wait(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Poll a JS expression until it is true (the page's CSP forbids wait_for_function's
    string evaluation, page.evaluate is not subject to it)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(50)


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.errors = errors
    page.goto(url)
    _wait(page, "window.labeler && window.labeler.ready")
    return page


def _wait_saved(page: Any) -> None:
    _wait(
        page,
        "document.getElementById('save-status').dataset.state === 'saved' && "
        "document.getElementById('save-status').textContent.startsWith('Saved')",
    )


def _screenshot(page: Any, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")  # pytest keeps its last three tmp folders


def test_label_click_drag_delete_save(browser: Any, config: Path, tmp_path: Path) -> None:
    project = Project(config)
    with Labeler(config) as lab:
        page = _open(browser, lab.url)
        assert "token=" not in page.url  # the token moved into a cookie
        frame = page.evaluate("window.labeler.frames[window.labeler.idx][0]")
        targets = {"snout": (40.0, 30.0), "leftear": (80.3, 60.6), "rightear": (100.0, 20.0)}
        targets["tailbase"] = (120.7, 90.2)
        for x, y in targets.values():  # each click places the selected part, then advances
            page.mouse.click(*_client_xy(page, x, y))
        # drag leftear to a new place
        start = _client_xy(page, *targets["leftear"])
        end_xy = (60.4, 100.8)
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*_client_xy(page, 70, 80), steps=4)
        page.mouse.move(*_client_xy(page, *end_xy), steps=4)
        page.mouse.up()
        # delete rightear: select it (key 3) and press Delete
        page.mouse.move(5, 5)
        page.keyboard.press("3")
        page.keyboard.press("Delete")
        page.keyboard.press("Control+s")
        _wait_saved(page)

        h5 = project.collected_data("mouse1")
        df = pd.read_hdf(h5, key="df_with_missing")
        with pd.HDFStore(h5, mode="r") as store:
            assert not store.get_storer("df_with_missing").is_table  # fixed format
        assert df.index.nlevels == 3
        assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
        row = df.loc[("labeled-data", "mouse1", frame), "oracle"]
        assert abs(row["snout", "x"] - 40.0) < 1 and abs(row["snout", "y"] - 30.0) < 1
        assert abs(row["tailbase", "x"] - 120.7) < 1 and abs(row["tailbase", "y"] - 90.2) < 1
        assert abs(row["leftear", "x"] - end_xy[0]) < 1 and abs(row["leftear", "y"] - end_xy[1]) < 1
        assert np.isnan(row["rightear", "x"]) and np.isnan(row["rightear", "y"])
        assert h5.with_suffix(".csv").is_file()

        # the next frame: one click, then autosave without asking
        page.keyboard.press("ArrowRight")
        _wait(page, "window.labeler.ready")
        second = page.evaluate("window.labeler.frames[window.labeler.idx][0]")
        page.mouse.click(*_client_xy(page, 20.0, 25.0))
        _wait_saved(page)
        df = pd.read_hdf(h5, key="df_with_missing")
        assert abs(df.loc[("labeled-data", "mouse1", second), ("oracle", "snout", "x")] - 20) < 1

        # Ctrl+C on the third frame copies the second frame's labels
        page.keyboard.press("ArrowRight")
        _wait(page, "window.labeler.ready")
        page.keyboard.press("Control+c")
        _wait_saved(page)
        third = page.evaluate("window.labeler.frames[window.labeler.idx][0]")
        df = pd.read_hdf(h5, key="df_with_missing")
        assert abs(df.loc[("labeled-data", "mouse1", third), ("oracle", "snout", "y")] - 25) < 1

        # the help overlay lists the keys
        page.keyboard.press("?")
        assert page.is_visible("#help") and "Ctrl+C" in page.inner_text("#help")
        page.keyboard.press("Escape")
        assert not page.is_visible("#help")

        # reopening restores the labels
        page.goto(f"http://127.0.0.1:{lab.port}/")  # the cookie carries the token now
        _wait(page, "window.labeler && window.labeler.ready")
        restored = page.evaluate(f"window.labeler.labels.get({frame!r}).size")
        assert restored == 3
        assert page.evaluate("window.labeler.idx") == 3  # it opens on the first unlabeled frame
        page.click("#frame-list li >> nth=0")
        _wait(page, "window.labeler.ready")
        _screenshot(page, tmp_path, "labeler.png")
        assert not page.errors, page.errors
        page.close()


def test_refine_move_prediction_and_merge(browser: Any, config: Path, tmp_path: Path) -> None:
    project = Project(config)
    frames = sorted(p.name for p in project.labeled_folder("mouse1").glob("*.png"))[:2]
    cols = pose_columns("DLC_resnet50_x", project.bodyparts, coords=("x", "y", "likelihood"))
    values = np.array([[30, 40, 0.95, 60, 50, 0.2, 90, 45, 0.9, 110, 70, 0.3]] * 2, float)
    machine = pd.DataFrame(
        values, index=row_index(("labeled-data", "mouse1", f) for f in frames), columns=cols
    )
    write_machine_labels(machine, project.machine_labels("mouse1"), None)
    with Labeler(config, "refine") as lab:
        page = _open(browser, lab.url)
        assert page.is_visible("#threshold") and page.input_value("#threshold") == "0.6"
        first = page.evaluate("window.labeler.frames[window.labeler.idx][0]")
        _screenshot(page, tmp_path, "labeler-refine.png")
        start = _client_xy(page, 60, 50)  # leftear, likelihood 0.2: a hollow circle
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*_client_xy(page, 64.5, 52.5), steps=5)
        page.mouse.up()
        page.keyboard.press("Control+s")
        _wait_saved(page)
        assert not page.errors, page.errors
        page.close()
    df = pd.read_hdf(project.collected_data("mouse1"), key="df_with_missing")
    assert set(df.columns.get_level_values("coords")) == {"x", "y"}
    assert set(df.columns.get_level_values("scorer")) == {"oracle"}
    row = df.loc[("labeled-data", "mouse1", first), "oracle"]
    assert abs(row["leftear", "x"] - 64.5) < 1 and abs(row["leftear", "y"] - 52.5) < 1
    assert row["snout", "x"] == 30 and row["tailbase", "y"] == 70
    # an explicit save merges every machine-labeled frame, as DLC's refine Save does
    other = [f for f in frames if f != first][0]
    assert df.loc[("labeled-data", "mouse1", other), ("oracle", "rightear", "x")] == 90


def test_skeleton_builder_adds_and_removes_edges_by_clicking(
    browser: Any, config: Path, tmp_path: Path
) -> None:
    cfg = read_config(config)
    cfg["skeleton"] = []
    write_config(config, cfg)
    with Labeler(config, skeleton=True) as lab:
        page = _open(browser, lab.url)
        assert page.evaluate("window.labeler.skeleton.on")  # opened in the builder
        page.click("#skeleton-mode")  # off: clicks place body parts again
        points = {"snout": (40.0, 30.0), "leftear": (80.0, 60.0), "rightear": (100.0, 20.0)}
        for x, y in points.values():
            page.mouse.click(*_client_xy(page, x, y))
        page.click("#skeleton-mode")
        for a, b in [
            ("snout", "leftear"),
            ("snout", "rightear"),
            ("leftear", "rightear"),
            ("leftear", "snout"),  # the same edge again: removed
        ]:
            page.mouse.click(*_client_xy(page, *points[a]))
            page.mouse.click(*_client_xy(page, *points[b]))
        assert page.evaluate("window.labeler.skeleton.edges") == [
            ["snout", "rightear"],
            ["leftear", "rightear"],
        ]
        # the builder's clicks neither placed nor moved a point
        placed = page.evaluate(
            "[...window.labeler.labels.get(window.labeler.frames[window.labeler.idx][0])]"
            ".map(([k, p]) => [k.split('\\t')[1], p.x, p.y])"
        )
        assert sorted(p[0] for p in placed) == sorted(points)
        for bp, x, y in placed:  # where the clicks put them (sub-pixel view rounding)
            assert (x, y) == pytest.approx(points[bp], abs=0.01)
        _screenshot(page, tmp_path, "skeleton.png")
        page.click("#skeleton-save")
        _wait(page, "document.getElementById('skeleton-status').textContent.includes('saved:')")
        assert not page.errors, page.errors
    after = read_config(config)
    assert [list(e) for e in after["skeleton"]] == [["snout", "rightear"], ["leftear", "rightear"]]
    assert {k: v for k, v in after.items() if k != "skeleton"} == {
        k: v for k, v in cfg.items() if k != "skeleton"
    }
