"""extract_frames / extract_video_frames on small synthetic videos whose frames encode
their index (a strip of black/white blocks at the bottom), so every PNG can be traced
back to the frame it came from."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from dlcflow.core.video import VideoError
from dlcflow.labeling import frames as frames_mod
from dlcflow.labeling.frames import (
    cluster_representatives,
    extract_frames,
    extract_video_frames,
    frame_range,
    select_uniform,
)
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project, frame_name

W, H = 160, 120
BITS = 10
BLOCK = W // BITS
SCENE_COLORS = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 200, 0), (0, 0, 255)]


def make_frame(index: int, scene: int | None = None) -> np.ndarray:
    frame = np.zeros((H, W, 3), np.uint8)
    if scene is None:
        frame[: H - 20] = (40 + (index * 3) % 150, 90, 200 - (index * 5) % 120)
    else:  # a flat scene colour with a small square moving inside it
        frame[: H - 20] = SCENE_COLORS[scene]
        x = 10 + (index * 3) % 120
        frame[30:50, x : x + 20] = (128, 128, 128)
    for bit in range(BITS):
        if (index >> bit) & 1:
            frame[H - 20 :, bit * BLOCK : (bit + 1) * BLOCK] = 255
    return frame


def png_index(path: Path) -> int:
    """The frame index encoded in a full-size PNG."""
    img = cv2.imread(str(path))
    assert img is not None and img.shape == (H, W, 3)
    row = img[H - 10]
    return sum(1 << b for b in range(BITS) if row[b * BLOCK + BLOCK // 2].mean() > 127)


def make_video(path: Path, nframes: int, scene_length: int | None = None) -> Path:
    fourcc = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30, (W, H))
    assert writer.isOpened()
    for i in range(nframes):
        scene = None if scene_length is None else i // scene_length
        writer.write(make_frame(i, scene))
    writer.release()
    return path


def new_project(tmp_path: Path, videos: list[Path], **settings: object) -> Project:
    config = create_new_project("T", "me", videos, working_directory=tmp_path / "w")
    cfg = read_config(config)
    for key, value in settings.items():
        cfg[key] = value
    write_config(config, cfg)
    return Project(config)


def no_temp_dirs(project: Project) -> bool:
    return not any(p.name.startswith(".dlcflow-frames-") for p in project.root.rglob(".*"))


# -- selection ---------------------------------------------------------------------------------
def test_frame_range_and_uniform_spacing() -> None:
    assert frame_range(200, 0, 1) == (0, 200)
    assert frame_range(200, 0.25, 0.75) == (50, 150)
    assert frame_range(10, 0.33, 0.66) == (3, 7)
    assert select_uniform(0, 200, 5) == [0, 50, 100, 149, 199]
    assert select_uniform(50, 150, 5) == [50, 75, 100, 124, 149]
    assert select_uniform(0, 4, 10) == [0, 1, 2, 3]
    picks = select_uniform(0, 1000, 20)
    assert len(set(picks)) == 20 and picks[0] == 0 and picks[-1] == 999
    assert max(np.diff(picks)) - min(np.diff(picks)) <= 1


def test_cluster_representatives_one_per_group() -> None:
    rng = np.random.default_rng(1)
    groups = [rng.integers(0, 256, 64) for _ in range(4)]
    rows = np.array([groups[i % 4] + rng.integers(0, 4, 64) for i in range(400)])
    features = np.clip(rows, 0, 255).astype(np.uint8)
    picked = cluster_representatives(features, 4, seed=3)
    assert sorted(r % 4 for r in picked) == [0, 1, 2, 3]
    assert cluster_representatives(features, 4, seed=3) == picked
    assert cluster_representatives(features[:3], 4) == [0, 1, 2]


# -- extraction --------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_uniform_names_and_content(tmp_path: Path, suffix: str) -> None:
    video = make_video(tmp_path / f"mouse{suffix}", 150)
    project = new_project(tmp_path, [video], numframes2pick=3)
    out = extract_frames(project.config_path, algo="uniform")
    folder = project.labeled_folder("mouse")
    assert list(out) == ["mouse"]
    assert [p.name for p in out["mouse"]] == ["img000.png", "img075.png", "img149.png"]
    assert [png_index(p) for p in out["mouse"]] == [0, 75, 149]
    assert sorted(p.name for p in folder.glob("*.png")) == [
        "img000.png",
        "img075.png",
        "img149.png",
    ]
    assert no_temp_dirs(project)


@pytest.mark.parametrize(
    ("nframes", "names"),
    [(1000, ["img000.png", "img999.png"]), (1001, ["img0000.png", "img1000.png"])],
)
def test_zero_fill_follows_frame_count(tmp_path: Path, nframes: int, names: list[str]) -> None:
    assert frame_name(7, 150) == "img007.png"
    assert frame_name(7, 1000) == "img007.png"
    assert frame_name(7, 1001) == "img0007.png"
    video = make_video(tmp_path / "long.mp4", nframes)
    project = new_project(tmp_path, [video])
    written = extract_video_frames(project, "long", algo="uniform", numframes2pick=2)
    assert [p.name for p in written] == names
    assert [png_index(p) for p in written] == [0, nframes - 1]


def test_start_stop_are_honoured(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 200)
    project = new_project(tmp_path, [video], start=0.25, stop=0.75, numframes2pick=5)
    written = extract_video_frames(project, "v", algo="uniform")
    assert [png_index(p) for p in written] == [50, 75, 100, 124, 149]
    extract_video_frames(project, "v", algo="kmeans", force=True, numframes2pick=6, seed=1)
    manifest = json.loads(project.frames_manifest("v").read_text())
    assert len(manifest["extracted"]) == 6
    assert all(50 <= int(name[3:6]) < 150 for name in manifest["extracted"])


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_kmeans_picks_one_frame_per_scene(tmp_path: Path, suffix: str) -> None:
    video = make_video(tmp_path / f"scenes{suffix}", 150, scene_length=30)  # 5 scenes
    project = new_project(tmp_path, [video], numframes2pick=5)
    written = extract_video_frames(project, "scenes", algo="kmeans", seed=0)
    indices = [png_index(p) for p in written]
    assert [p.name for p in written] == [frame_name(i, 150) for i in indices]
    assert sorted(i // 30 for i in indices) == [0, 1, 2, 3, 4]
    # Deterministic for a seed; colour features and a cluster step find the same scenes.
    again = extract_video_frames(project, "scenes", force=True, seed=0)
    assert [p.name for p in again] == [p.name for p in written]
    stepped = extract_video_frames(
        project, "scenes", force=True, cluster_step=4, cluster_color=True, cluster_resizewidth=20
    )
    assert sorted(png_index(p) // 30 for p in stepped) == [0, 1, 2, 3, 4]
    assert all(png_index(p) % 4 == 0 for p in stepped)


def test_crop_writes_cropped_pngs(tmp_path: Path) -> None:
    video = make_video(tmp_path / "c.avi", 60)
    project = new_project(tmp_path, [video], numframes2pick=2)
    key = next(iter(project.video_sets))
    cfg = read_config(project.config_path)
    cfg["video_sets"][key]["crop"] = "20, 140, 30, 120"
    write_config(project.config_path, cfg)
    written = extract_frames(project.config_path, algo="uniform", crop=True)["c"]
    assert [p.name for p in written] == ["img00.png", "img59.png"]
    img = cv2.imread(str(written[1]))
    assert img.shape == (90, 120, 3)
    np.testing.assert_allclose(
        img[:60].mean(axis=(0, 1)), make_frame(59)[30:90, 20:140].mean(axis=(0, 1)), atol=3
    )
    manifest = json.loads(project.frames_manifest("c").read_text())
    assert manifest["crop"] == [20, 140, 30, 120]


def test_existing_frames_are_skipped_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = make_video(tmp_path / "v.avi", 100)
    project = new_project(tmp_path, [video], numframes2pick=3)
    first = extract_frames(project.config_path, algo="uniform")["v"]
    stamps = {p: p.stat().st_mtime_ns for p in first}
    capsys.readouterr()
    project.frames_manifest("v").unlink()
    again = extract_frames(project.config_path, algo="kmeans")["v"]
    assert "already holds 3 frames; skipping" in capsys.readouterr().err
    assert again == first and {p: p.stat().st_mtime_ns for p in first} == stamps
    manifest = json.loads(project.frames_manifest("v").read_text())
    assert manifest["skipped"] is True and manifest["frames"] == [p.name for p in first]
    assert manifest["nframes"] == 100
    forced = extract_frames(project.config_path, algo="uniform", force=True, videos_list=["v"])
    assert [p.name for p in forced["v"]] == ["img00.png", "img50.png", "img99.png"]
    manifest = json.loads(project.frames_manifest("v").read_text())
    assert manifest["skipped"] is False and manifest["algo"] == "uniform"


def test_manifest_content(tmp_path: Path) -> None:
    video = make_video(tmp_path / "m.mp4", 120)
    project = new_project(tmp_path, [video], numframes2pick=4, start=0.5)
    written = extract_frames(project.config_path, algo="uniform")["m"]
    manifest = json.loads(project.frames_manifest("m").read_text())
    key = next(iter(project.video_sets))
    assert manifest["video"] == str(project.resolve_video(key)) and manifest["video_key"] == key
    assert manifest["nframes"] == 120 and manifest["readable_frames"] == 120
    assert manifest["algo"] == "uniform" and manifest["crop"] is None
    assert manifest["start"] == 0.5 and manifest["stop"] == 1.0
    assert manifest["numframes2pick"] == 4
    assert manifest["frames"] == manifest["extracted"] == [p.name for p in written]
    assert manifest["frames"] == ["img060.png", "img080.png", "img099.png", "img119.png"]
    assert manifest["bad_frames"] == []


def test_videos_list_selects_by_stem_or_path(tmp_path: Path) -> None:
    a, b = make_video(tmp_path / "a.avi", 40), make_video(tmp_path / "b.avi", 40)
    project = new_project(tmp_path, [a, b], numframes2pick=2)
    assert list(extract_frames(project.config_path, algo="uniform", videos_list=["b"])) == ["b"]
    assert list(extract_frames(project.config_path, algo="uniform", videos_list=[a])) == ["a"]
    with pytest.raises(ValueError, match="'zzz' is not in video_sets"):
        extract_frames(project.config_path, videos_list=["zzz"])


def test_manual_mode_and_bad_settings(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.avi", 30)
    project = new_project(tmp_path, [video])
    with pytest.raises(ValueError, match="labeling tool"):
        extract_frames(project.config_path, mode="manual")
    with pytest.raises(ValueError, match="algo 'random'"):
        extract_frames(project.config_path, algo="random")
    with pytest.raises(ValueError, match="cluster_resizewidth 500"):
        extract_frames(project.config_path, cluster_resizewidth=500)
    cfg = read_config(project.config_path)
    cfg["start"], cfg["stop"] = 0.8, 0.2
    write_config(project.config_path, cfg)
    with pytest.raises(ValueError, match=r"start \(0.8\) and stop \(0.2\)"):
        extract_frames(project.config_path)
    assert not list(project.labeled_folder("v").glob("*.png")) and no_temp_dirs(project)


def test_unopenable_video_raises_one_line(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", 30)
    project = new_project(tmp_path, [video])
    video.write_bytes(b"\x00garbage" * 500)
    with pytest.raises(VideoError) as err:
        extract_frames(project.config_path)
    message = str(err.value)
    assert "\n" not in message and "v.mp4: cannot open video" in message
    assert not list(project.labeled_folder("v").iterdir())


def test_truncated_mp4_fails_cleanly(tmp_path: Path) -> None:
    video = make_video(tmp_path / "t.mp4", 120)
    project = new_project(tmp_path, [video])
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"t\.mp4: cannot open video"):
        extract_video_frames(project, "t", algo="kmeans")
    assert not list(project.labeled_folder("t").iterdir())
    assert not project.frames_manifest("t").exists()


@pytest.mark.parametrize("algo", ["uniform", "kmeans"])
def test_truncated_avi_warns_and_uses_readable_part(tmp_path: Path, algo: str) -> None:
    video = make_video(tmp_path / "t.avi", 120)
    project = new_project(tmp_path, [video], numframes2pick=5)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = extract_video_frames(project, "t", algo=algo)
    assert any("t.avi: video ends early" in str(w.message) for w in caught)
    manifest = json.loads(project.frames_manifest("t").read_text())
    end = manifest["readable_frames"]
    assert 30 < end < 120
    assert written and all(png_index(p) < end for p in written)
    assert [p.name for p in written] == [frame_name(png_index(p), 120) for p in written]
    if algo == "kmeans":
        assert len(written) == 5
    assert no_temp_dirs(project)


def test_undecodable_frame_is_skipped_with_warning(tmp_path: Path) -> None:
    video = make_video(tmp_path / "b.avi", 100)
    data = bytearray(video.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    sof = data.index(b"\xff\xc0", starts[50])
    data[sof + 2 : sof + 4] = b"\xc1\xe0"
    video.write_bytes(bytes(data))
    project = new_project(tmp_path, [video], numframes2pick=3)
    with pytest.warns(UserWarning) as said:
        written = extract_video_frames(project, "b", algo="uniform", numframes2pick=3)
    messages = [str(w.message) for w in said]
    assert any(re.search(r"b\.avi: frame\(s\) 50 cannot be decoded", m) for m in messages)
    assert any(
        m.endswith("b.avi: 1 of the 3 selected frames could not be read; writing the others")
        for m in messages
    )
    assert [p.name for p in written] == ["img00.png", "img99.png"]  # img50 was the bad one
    assert [png_index(p) for p in written] == [0, 99]
    assert json.loads(project.frames_manifest("b").read_text())["bad_frames"] == [50]


def test_interrupt_leaves_folder_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = make_video(tmp_path / "v.mp4", 100)
    project = new_project(tmp_path, [video], numframes2pick=5)
    real_imwrite = cv2.imwrite
    calls = []

    def flaky_imwrite(path: str, img: np.ndarray) -> bool:
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_imwrite(path, img)

    monkeypatch.setattr(frames_mod.cv2, "imwrite", flaky_imwrite)
    with pytest.raises(KeyboardInterrupt):
        extract_video_frames(project, "v", algo="uniform")
    assert len(calls) == 3
    assert list(project.labeled_folder("v").iterdir()) == []
    monkeypatch.setattr(frames_mod.cv2, "imwrite", real_imwrite)
    assert len(extract_video_frames(project, "v", algo="uniform")) == 5
