"""The labeler's HTTP API: security checks, saving in DLC's format, refine merging."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest

from dlcflow.devtools.demo import make_demo_project
from dlcflow.io.labels import read_annotations, row_index, write_annotations, write_machine_labels
from dlcflow.io.tables import pose_columns
from dlcflow.labeler import Labeler, LabelerError
from dlcflow.labeling.frames import extract_frames
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.paths import Project

VIDEO = "mouse1"


# -- fixtures and helpers ------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = make_demo_project(
        tmp_path_factory.mktemp("demo"), n_videos=1, nframes=60, numframes2pick=5, size=(160, 120)
    )
    extract_frames(config)
    return config


@pytest.fixture
def config(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo project with 5 extracted frames (scorer 'oracle')."""
    root = tmp_path / template.parent.name
    shutil.copytree(template.parent, root, symlinks=True)
    return root / "config.yaml"


@pytest.fixture
def lab(config: Path) -> Iterator[Labeler]:
    with Labeler(config) as labeler:
        yield labeler


def request(
    lab: Labeler,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = "header",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, http.client.HTTPResponse]:
    """One raw request (http.client sends the path exactly as given)."""
    conn = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=10)
    hdrs = {"Host": f"127.0.0.1:{lab.port}", **(headers or {})}
    if token == "header":
        hdrs["X-Dlcflow-Token"] = lab.token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    ctype = resp.getheader("Content-Type") or ""
    return resp.status, (json.loads(raw) if "json" in ctype else raw), resp


def frames_of(lab: Labeler) -> list[str]:
    status, data, _ = request(lab, "GET", f"/api/video/{VIDEO}")
    assert status == 200, data
    return [name for name, _version in data["frames"]]


def save(lab: Labeler, frames: dict[str, list[list[Any]]], adjust: bool = False) -> Any:
    status, data, _ = request(
        lab, "POST", "/api/save", {"video": VIDEO, "frames": frames, "adjust": adjust}
    )
    assert status == 200, data
    return data


# -- security ------------------------------------------------------------------------------
def test_listens_on_localhost_with_a_long_token(lab: Labeler) -> None:
    assert lab.httpd.server_address[0] == "127.0.0.1"
    assert len(lab.token) >= 32
    assert lab.url.startswith(f"http://127.0.0.1:{lab.port}/?token={lab.token}")


def test_token_refused_and_accepted(lab: Labeler) -> None:
    for path in ("/", "/api/project", "/static/labeler.js", f"/api/video/{VIDEO}"):
        status, data, _ = request(lab, "GET", path, token=None)
        assert status == 403 and "token" in data["error"]
    status, data, _ = request(lab, "GET", "/?token=wrong", token=None)
    assert status == 403 and "wrong token" in data["error"]
    status, page, resp = request(lab, "GET", f"/?token={lab.token}", token=None)
    assert status == 200 and b"<canvas" in page and lab.token.encode() in page
    cookie = resp.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert resp.getheader("Content-Security-Policy")
    status, info, _ = request(lab, "GET", "/api/project", token=None, headers={"Cookie": cookie})
    assert status == 200 and info["bodyparts"] == ["snout", "leftear", "rightear", "tailbase"]
    status, _, _ = request(
        lab, "GET", "/static/labeler.css", token=None, headers={"Cookie": cookie}
    )
    assert status == 200


def test_changes_need_the_token_header_and_json(lab: Labeler) -> None:
    status, _, resp = request(lab, "GET", f"/?token={lab.token}", token=None)
    assert status == 200
    cookie = resp.getheader("Set-Cookie").split(";")[0]
    body = {"video": VIDEO, "frames": {}}
    status, data, _ = request(lab, "POST", "/api/save", body, None, {"Cookie": cookie})
    assert status == 403 and "header" in data["error"]
    status, data, _ = request(
        lab, "POST", "/api/save", body, headers={"Content-Type": "text/plain"}
    )
    assert status == 415 and "send JSON" in data["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/files/../config.yaml",
        "/files/labeled-data/../../config.yaml",
        "/files/labeled-data/mouse1/../../config.yaml",
        "/files/%2e%2e/config.yaml",
        "/files/labeled-data/%2E%2E/%2E%2E/config.yaml",
        "/static/../server.py",
        "/files//etc/passwd",
        "/files/labeled-data/mouse1/..%2f..%2fconfig.yaml",
        "/files/labeled-data\\..\\config.yaml",
        f"/api/video/..%2f{VIDEO}",
    ],
)
def test_path_traversal_refused(lab: Labeler, path: str) -> None:
    status, data, _ = request(lab, "GET", path)
    assert status in (400, 403), (path, status)
    assert "refused" in data["error"] or "plain file name" in data["error"]


def test_only_images_under_labeled_data_are_served(lab: Labeler, config: Path) -> None:
    root = config.parent
    only_images = "refused: only images under labeled-data/ are served"
    status, data, _ = request(lab, "GET", "/files/config.yaml")
    assert status == 403 and data["error"] == only_images
    (root / "labeled-data" / VIDEO / "notes.txt").write_text("x")
    status, data, _ = request(lab, "GET", f"/files/labeled-data/{VIDEO}/notes.txt")
    assert status == 403 and data["error"] == only_images
    outside = root.parent / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    (root / "labeled-data" / VIDEO / "escape.png").symlink_to(outside)
    status, data, _ = request(lab, "GET", f"/files/labeled-data/{VIDEO}/escape.png")
    assert status == 403 and data["error"] == only_images
    status, data, _ = request(lab, "GET", f"/files/labeled-data/{VIDEO}/nothere.png")
    assert status == 404 and "nothere.png" in data["error"]


def test_images_are_served_with_caching_headers(lab: Labeler) -> None:
    name = frames_of(lab)[0]
    status, body, resp = request(lab, "GET", f"/files/labeled-data/{VIDEO}/{name}?v=1")
    assert status == 200 and body.startswith(b"\x89PNG")
    assert resp.getheader("Content-Type") == "image/png"
    assert "max-age" in resp.getheader("Cache-Control")
    etag = resp.getheader("ETag")
    status, body, resp = request(
        lab, "GET", f"/files/labeled-data/{VIDEO}/{name}", headers={"If-None-Match": etag}
    )
    assert status == 304 and body == b"" and resp.getheader("ETag") == etag


@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:80", "127.0.0.1.nip.io", ""]
)
def test_non_local_host_refused(lab: Labeler, host: str) -> None:
    status, data, _ = request(
        lab, "GET", f"/?token={lab.token}", token=None, headers={"Host": host}
    )
    assert status == 403 and "Host" in data["error"]


@pytest.mark.parametrize("host", ["localhost:8765", "127.0.0.1", "[::1]:9000", "LOCALHOST"])
def test_local_host_names_accepted(lab: Labeler, host: str) -> None:
    status, info, _ = request(lab, "GET", "/api/project", headers={"Host": host})
    assert status == 200 and info["bodyparts"] == ["snout", "leftear", "rightear", "tailbase"]


# -- saving ---------------------------------------------------------------------------------
def test_save_writes_collected_data_in_dlc_structure(lab: Labeler, config: Path) -> None:
    project = Project(config)
    f0, f1 = frames_of(lab)[:2]
    result = save(
        lab,
        {
            f1: [["", "snout", 10.5, 20.25], ["", "tailbase", 100, 80]],
            f0: [["", "leftear", 33.3, 44.4]],
        },
    )
    assert sorted(result["saved"]) == sorted([f0, f1]) and result["labeled"] == 2
    h5 = project.collected_data(VIDEO)
    df = pd.read_hdf(h5, key="df_with_missing")
    with pd.HDFStore(h5, mode="r") as store:
        assert store.keys() == ["/df_with_missing"]
        assert not store.get_storer("df_with_missing").is_table  # fixed format
    assert df.index.nlevels == 3 and list(df.index) == sorted(df.index)
    assert df.index[0] == ("labeled-data", VIDEO, f0)
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert list(df.columns) == [
        ("oracle", bp, c) for bp in ["snout", "leftear", "rightear", "tailbase"] for c in "xy"
    ]
    assert df.dtypes.eq("float64").all()
    assert df.loc[("labeled-data", VIDEO, f1), ("oracle", "snout", "y")] == 20.25
    assert np.isnan(df.loc[("labeled-data", VIDEO, f1), ("oracle", "leftear", "x")])
    csv = read_annotations(h5.with_suffix(".csv"))
    pd.testing.assert_frame_equal(csv, read_annotations(h5))
    # reopening restores the labels
    status, data, _ = request(lab, "GET", f"/api/video/{VIDEO}")
    assert status == 200, data
    assert data["labels"][f1] == [["", "snout", 10.5, 20.25], ["", "tailbase", 100.0, 80.0]]
    # saving a frame again replaces its row, other rows stay
    save(lab, {f1: [["", "rightear", 5, 6]]})
    df = read_annotations(h5)
    assert df.loc[("labeled-data", VIDEO, f1)].notna().sum() == 2
    assert df.loc[("labeled-data", VIDEO, f0), ("oracle", "leftear", "x")] == pytest.approx(33.3)


def test_a_failed_write_keeps_what_was_saved(
    lab: Labeler, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f0 = frames_of(lab)[0]
    save(lab, {f0: [["", "snout", 1, 2]]})

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)  # dies after the h5 temp file is written
    status, data, _ = request(
        lab, "POST", "/api/save", {"video": VIDEO, "frames": {f0: [["", "snout", 9, 9]]}}
    )
    assert status == 500 and "disk full" in data["error"]
    monkeypatch.undo()
    df = read_annotations(Project(config).collected_data(VIDEO))
    assert df.loc[("labeled-data", VIDEO, f0), ("oracle", "snout", "x")] == 1.0
    leftovers = (config.parent / "labeled-data" / VIDEO).glob(".CollectedData*")
    assert not list(leftovers)  # temp files are cleaned up


def test_a_busy_port_is_a_clear_error(lab: Labeler, config: Path) -> None:
    with pytest.raises(OSError, match="pick another --port"):
        Labeler(config, port=lab.port)


def test_bad_saves_are_refused_with_one_line(lab: Labeler) -> None:
    f0 = frames_of(lab)[0]
    cases = [
        ({"video": VIDEO, "frames": {f0: [["", "tail", 1, 2]]}}, "unknown body part"),
        ({"video": VIDEO, "frames": {f0: [["", "snout", "a", 2]]}}, "not numbers"),
        ({"video": VIDEO, "frames": {"img999.png": []}}, "no such image"),
        ({"video": VIDEO, "frames": {"../config.yaml": []}}, "plain file name"),
        ({"video": "nope", "frames": {}}, "no video"),
    ]
    for body, message in cases:
        status, data, _ = request(lab, "POST", "/api/save", body)
        assert status == 400 and message in data["error"], data
        assert "\n" not in data["error"]


def test_concurrent_saves_do_not_corrupt(lab: Labeler, config: Path) -> None:
    frames = frames_of(lab)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for rep in range(4):
                name = frames[(k + rep) % len(frames)]
                save(lab, {name: [["", "snout", k, rep], ["", "tailbase", 50 + k, 60]]})
        except BaseException as err:  # collected for the main thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    df = read_annotations(Project(config).collected_data(VIDEO))
    assert sorted(r[2] for r in df.index) == frames  # every frame, once
    assert df[("oracle", "snout", "x")].notna().all()
    leftovers = [p.name for p in (config.parent / "labeled-data" / VIDEO).iterdir()]
    assert not [n for n in leftovers if n.startswith(".CollectedData")], leftovers


def test_new_bodypart_in_config_appears_and_labels_stay(lab: Labeler, config: Path) -> None:
    f0 = frames_of(lab)[0]
    save(lab, {f0: [["", "snout", 1, 2], ["", "tailbase", 3, 4]]})
    cfg = read_config(config)
    cfg["bodyparts"] = ["snout", "leftear", "rightear", "tailbase", "tailtip"]
    write_config(config, cfg)
    os.utime(config, ns=(time.time_ns(), time.time_ns() + 10**9))  # a surely newer mtime
    status, info, _ = request(lab, "GET", "/api/project")
    assert status == 200, info
    assert info["bodyparts"][-1] == "tailtip" and "tailtip" in info["colors"]
    status, data, _ = request(lab, "GET", f"/api/video/{VIDEO}")
    assert status == 200, data
    assert data["labels"][f0] == [["", "snout", 1.0, 2.0], ["", "tailbase", 3.0, 4.0]]
    save(lab, {f0: [*data["labels"][f0], ["", "tailtip", 7, 8]]})
    df = read_annotations(Project(config).collected_data(VIDEO))
    assert list(dict.fromkeys(df.columns.get_level_values("bodyparts")))[-1] == "tailtip"
    assert df.loc[("labeled-data", VIDEO, f0), ("oracle", "snout", "x")] == 1.0
    assert df.loc[("labeled-data", VIDEO, f0), ("oracle", "tailtip", "y")] == 8.0


def test_remove_frame_deletes_image_and_rows(config: Path) -> None:
    project = Project(config)
    names = sorted(p.name for p in project.labeled_folder(VIDEO).glob("*.png"))
    machine = _machine_labels(project, names[:3])
    write_machine_labels(
        machine, project.machine_labels(VIDEO), project.machine_labels(VIDEO, ext="csv")
    )
    with Labeler(config) as lab:
        save(lab, {n: [["", "snout", 5, 5]] for n in names[:2]})
        status, data, _ = request(lab, "POST", "/api/remove", {"video": VIDEO, "frame": names[0]})
        assert status == 200 and data["frames"] == len(names) - 1
        status, data, _ = request(lab, "POST", "/api/remove", {"video": VIDEO, "frame": "img.txt"})
        assert status == 400 and "img.txt: not an image name" in data["error"]
    assert not (project.labeled_folder(VIDEO) / names[0]).exists()
    assert names[0] not in {r[2] for r in read_annotations(project.collected_data(VIDEO)).index}
    assert names[0] not in {r[2] for r in read_annotations(project.machine_labels(VIDEO)).index}
    csv_rows = read_annotations(project.machine_labels(VIDEO, ext="csv")).index
    assert [r[2] for r in csv_rows] == names[1:3]


# -- refine ---------------------------------------------------------------------------------
def _machine_labels(project: Project, names: list[str]) -> pd.DataFrame:
    cols = pose_columns("DLC_resnet50_demo", project.bodyparts, coords=("x", "y", "likelihood"))
    values = np.tile(
        [10.0, 11.0, 0.9, 20.0, 21.0, 0.1, 30.0, 31.0, 0.95, 40.0, 41.0, 0.5], (len(names), 1)
    )
    return pd.DataFrame(
        values, index=row_index(("labeled-data", VIDEO, n) for n in names), columns=cols
    )


def test_refine_merges_as_dlc_does(config: Path) -> None:
    project = Project(config)
    names = sorted(p.name for p in project.labeled_folder(VIDEO).glob("*.png"))
    human, fresh = names[0], names[1]
    write_machine_labels(
        _machine_labels(project, [human, fresh]), project.machine_labels(VIDEO), None
    )
    # the human labeled one of those frames (and another frame) before refining
    before = pd.DataFrame(
        np.nan,
        index=row_index([("labeled-data", VIDEO, human), ("labeled-data", VIDEO, names[4])]),
        columns=pose_columns("oracle", project.bodyparts),
    )
    before.loc[:, ("oracle", "snout", "x")] = 99.0
    before.loc[:, ("oracle", "snout", "y")] = 98.0
    write_annotations(before, project.collected_data(VIDEO))
    with Labeler(config, "refine") as lab:
        status, info, _ = request(lab, "GET", "/api/project")
        assert status == 200, info
        assert info["mode"] == "refine" and info["pcutoff"] == 0.6
        status, data, _ = request(lab, "GET", f"/api/video/{VIDEO}")
        assert status == 200, data
        assert [f for f, _ in data["frames"]] == [human, fresh]  # machine-labeled frames only
        assert data["locked"] == [human]
        assert data["machine"][fresh][1] == ["", "leftear", 20.0, 21.0, 0.1]
        assert data["labels"][human] == [["", "snout", 99.0, 98.0]]
        # the page sends every frame: predictions (one moved, one deleted) and the human frame
        page = {
            fresh: [["", "snout", 12.5, 13.5], ["", "leftear", 20, 21], ["", "tailbase", 40, 41]],
            human: [["", "snout", 1, 1]],
        }
        result = save(lab, page)
        assert result["saved"] == [fresh] and result["skipped"] == [human]
        df = read_annotations(project.collected_data(VIDEO))
        assert set(df.columns.get_level_values("coords")) == {"x", "y"}  # likelihood dropped
        assert set(df.columns.get_level_values("scorer")) == {"oracle"}  # project scorer
        assert (
            df.loc[("labeled-data", VIDEO, human), ("oracle", "snout", "x")] == 99.0
        )  # human wins
        row = df.loc[("labeled-data", VIDEO, fresh), "oracle"]
        assert (row["snout", "x"], row["leftear", "y"], row["tailbase", "x"]) == (12.5, 21, 40)
        assert np.isnan(row["rightear", "x"])  # deleted prediction
        assert ("labeled-data", VIDEO, names[4]) in df.index  # other rows stay
        # with "adjust original labels" the page's labels replace the human ones
        result = save(lab, {human: [["", "snout", 1, 2]]}, adjust=True)
        assert result["saved"] == [human]
        df = read_annotations(project.collected_data(VIDEO))
        assert df.loc[("labeled-data", VIDEO, human), ("oracle", "snout", "y")] == 2.0


def test_refine_without_machine_labels_says_what_to_do(config: Path) -> None:
    with pytest.raises(LabelerError, match=r"machinelabels-iter0\.h5.*outlier"):
        Labeler(config, "refine")


def test_label_without_frames_says_what_to_do(config: Path) -> None:
    for png in (config.parent / "labeled-data" / VIDEO).glob("*.png"):
        png.unlink()
    with pytest.raises(LabelerError, match="no frames in .*extract-frames"):
        Labeler(config)


def test_unknown_video_is_refused(config: Path) -> None:
    with pytest.raises(LabelerError, match="no video 'nope'"):
        Labeler(config, video="nope")


# -- multi animal ---------------------------------------------------------------------------
def test_multianimal_individuals_and_unique_bodyparts(template: Path, tmp_path: Path) -> None:
    video = next((template.parent / "videos").iterdir())
    config = Path(
        create_new_project(
            "ma",
            "ann",
            [video],
            working_directory=tmp_path,
            multianimal=True,
            individuals=["mouse_a", "mouse_b"],
            bodyparts=["snout", "tailbase"],
        )
    )
    cfg = read_config(config)
    cfg["uniquebodyparts"] = ["feeder"]
    write_config(config, cfg)
    folder = Project(config).labeled_folder(video.stem)
    cv2.imwrite(str(folder / "img001.png"), np.zeros((40, 50, 3), np.uint8))
    with Labeler(config) as lab:
        status, info, _ = request(lab, "GET", "/api/project")
        assert status == 200, info
        assert info["multianimal"] and info["individuals"] == ["mouse_a", "mouse_b", "single"]
        assert info["bodyparts"] == ["snout", "tailbase"] and info["unique_bodyparts"] == ["feeder"]
        assert set(info["colors"]) == {"snout", "tailbase", "feeder"}
        body = {
            "video": video.stem,
            "frames": {
                "img001.png": [
                    ["mouse_b", "snout", 3, 4],
                    ["single", "feeder", 5, 6],
                    ["mouse_a", "tailbase", 7, 8],
                ]
            },
        }
        status, data, _ = request(lab, "POST", "/api/save", body)
        assert status == 200, data
        body["frames"]["img001.png"].append(["single", "snout", 1, 1])
        status, data, _ = request(lab, "POST", "/api/save", body)
        assert status == 400 and "single/snout" in data["error"]
    df = pd.read_hdf(Project(config).collected_data(video.stem), key="df_with_missing")
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert list(dict.fromkeys(df.columns.get_level_values("individuals"))) == [
        "mouse_a",
        "mouse_b",
        "single",
    ]
    row = df.loc[("labeled-data", video.stem, "img001.png"), "ann"]
    assert (row["mouse_b", "snout", "x"], row["single", "feeder", "y"]) == (3, 6)
    assert np.isnan(row["mouse_a", "snout", "x"])


# -- a big project, and the command line ---------------------------------------------------
def test_project_with_2000_frames_opens(config: Path) -> None:
    """Listing + first frame of a 2,000-frame folder (prints the time; asserts no timing)."""
    project = Project(config)
    folder = project.labeled_folder(VIDEO)
    png = next(folder.glob("*.png")).read_bytes()
    for p in folder.glob("*.png"):
        p.unlink()
    names = [f"img{i:04d}.png" for i in range(2000)]
    for n in names:
        (folder / n).write_bytes(png)
    labels = pd.DataFrame(
        np.random.default_rng(0).uniform(1, 100, (2000, 8)),
        index=row_index(("labeled-data", VIDEO, n) for n in names),
        columns=pose_columns("oracle", project.bodyparts),
    )
    write_annotations(labels, project.collected_data(VIDEO))
    with Labeler(config) as lab:
        t0 = time.perf_counter()
        info_status, info, _ = request(lab, "GET", "/api/project")
        video_status, data, _ = request(lab, "GET", f"/api/video/{VIDEO}")
        first = data["frames"][0][0]
        status, img, _ = request(lab, "GET", f"/files/labeled-data/{VIDEO}/{first}?v=1")
        elapsed = time.perf_counter() - t0
    assert (info_status, video_status) == (200, 200), (info, data)
    assert info["videos"][0] == {"name": VIDEO, "frames": 2000, "labeled": 2000}
    assert len(data["frames"]) == 2000 and len(data["labels"]) == 2000
    assert status == 200 and img == png
    print(f"2000-frame project: project + listing + first frame in {elapsed * 1000:.0f} ms")


def test_cli_label_prints_a_url_and_serves(config: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcflow.cli", "label", str(config), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
            if match:
                url = match.group(0)
            elif not line and proc.poll() is not None:
                break
        assert url, "no URL printed"
        port, token = re.search(r":(\d+)/\?token=(\S+)", url).groups()
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 403
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        conn.request("GET", f"/?token={token}")
        resp = conn.getresponse()
        assert resp.status == 200 and b"<canvas" in resp.read()
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- skeleton builder ----------------------------------------------------------------------
def test_skeleton_read_saved_checked_and_the_rest_of_config_kept(
    lab: Labeler, config: Path
) -> None:
    before = dict(read_config(config))
    text = config.read_text()
    status, data, _ = request(lab, "GET", "/api/skeleton")
    assert status == 200 and data["skeleton"] == [[a, b] for a, b in before["skeleton"] or []]
    edges = [["snout", "leftear"], ["rightear", "snout"], ["leftear", "snout"]]
    status, data, _ = request(lab, "POST", "/api/skeleton", {"skeleton": edges})
    assert status == 200, data
    assert data["skeleton"] == [["snout", "leftear"], ["rightear", "snout"]]  # repeat dropped
    after = read_config(config)
    assert [list(e) for e in after["skeleton"]] == data["skeleton"]
    assert {k: v for k, v in after.items() if k != "skeleton"} == {
        k: v for k, v in before.items() if k != "skeleton"
    }
    kept = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert kept and all(line in config.read_text() for line in kept)  # comments kept
    for bad, cause in (
        ([["snout", "whisker"]], "'whisker' is not a body part"),
        ([["snout", "snout"]], "joins a body part to itself"),
        ([["snout"]], "give two body parts"),
    ):
        status, data, _ = request(lab, "POST", "/api/skeleton", {"skeleton": bad})
        assert status == 400 and cause in data["error"] and "\n" not in data["error"]
    assert [list(e) for e in read_config(config)["skeleton"]] == [
        ["snout", "leftear"],
        ["rightear", "snout"],
    ]
    status, _, _ = request(lab, "POST", "/api/skeleton", {"skeleton": []}, token=None)
    assert status == 403
