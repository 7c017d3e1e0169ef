"""Shared fixtures: small synthetic videos and a copy of the real DLC project."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-reaching-2018"
#: DeepLabCut's multi-animal reference data (read-only; see its README).
MA_FIXTURE = FIXTURE.with_name("dlc-unittest-multianimal")

#: The demo, small (tests/small-demo.yaml, which CI's compatibility check runs too).
SMALL_DEMO = yaml.safe_load((Path(__file__).with_name("small-demo.yaml")).read_text())


#: Test files that run for minutes: collected first, so that with ``pytest -n 2 --dist
#: loadfile`` one worker starts them while the other runs the rest, not at the end.
LONG_FILES = ("test_ma_quality.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONG_FILES)


@functools.cache
def snakemake_workdir() -> Path:
    """Where the tests run Snakemake (its .snakemake/ and the workflow's logs/ go there),
    so that no test writes into the repository."""
    return Path(tempfile.mkdtemp(prefix="dlcflow-snakemake-"))


def write_video(path: Path, nframes: int = 30, size: tuple[int, int] = (64, 48)) -> Path:
    """A small video whose frame i is filled with grey level 5*i (plus a moving square)."""
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, 30.0, size)
    for i in range(nframes):
        frame = np.full((size[1], size[0], 3), (5 * i) % 256, np.uint8)
        cv2.rectangle(frame, (i % size[0], 5), (i % size[0] + 8, 13), (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def reaching_project(tmp_path: Path) -> Path:
    """A writable copy of the DLC-made reaching project, project_path filled in, with a
    video_sets entry for videos/reachingvideo1.avi. Returns its config.yaml."""
    if not FIXTURE.is_dir():
        pytest.fail(f"fixture project missing: {FIXTURE}")
    root = tmp_path / "Reaching-Mackenzie-2018-08-30"
    shutil.copytree(FIXTURE, root)
    config = root / "config.yaml"
    text = config.read_text()
    text = text.replace(
        "project_path: WILL BE AUTOMATICALLY UPDATED BY DEMO CODE", f"project_path: {root}"
    )
    text = text.replace(
        "  WILL BE AUTOMATICALLY UPDATED BY DEMO CODE:",
        f"  {root / 'videos' / 'reachingvideo1.avi'}:",
    )
    config.write_text(text)
    return config
