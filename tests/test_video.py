"""VideoReader / VideoWriter / video_info on small synthetic videos (each frame encodes
its index in a strip of black/white blocks at the bottom)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from dlcflow.core.video import VideoError, VideoReader, VideoWriter, video_info

W, H = 160, 120
BITS = 10  # indices up to 1023
BLOCK = W // BITS


def make_frame(index: int, width: int = W, height: int = H) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    frame[: height - 20] = (40 + (index * 3) % 150, 90, 200 - (index * 5) % 120)
    block = width // BITS
    for bit in range(BITS):
        if (index >> bit) & 1:
            frame[height - 20 :, bit * block : (bit + 1) * block] = 255
    return frame


def frame_index(frame: np.ndarray) -> int:
    """The index encoded by :func:`make_frame` (frame of full size)."""
    height, width = frame.shape[:2]
    block = width // BITS
    row = frame[height - 10]
    return sum(1 << b for b in range(BITS) if row[b * block + block // 2].mean() > 127)


def make_video(path: Path, nframes: int, fourcc: str | None = None) -> Path:
    fourcc = fourcc or ("MJPG" if path.suffix == ".avi" else "mp4v")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30, (W, H))
    assert writer.isOpened()
    for i in range(nframes):
        writer.write(make_frame(i))
    writer.release()
    return path


def corrupt_mjpeg_frame(path: Path, index: int) -> None:
    """Break the SOF header of one frame of an MJPG avi: that frame no longer decodes."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    sof = data.index(b"\xff\xc0", starts[index])
    data[sof + 2 : sof + 4] = b"\xc1\xe0"  # an impossible segment length
    path.write_bytes(bytes(data))


@pytest.fixture(params=[".mp4", ".avi"])
def video(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return make_video(tmp_path / f"clip{request.param}", 120)


def test_video_info(video: Path) -> None:
    info = video_info(video)
    assert (info.nframes, info.width, info.height) == (120, W, H)
    assert info.fps == pytest.approx(30.0)


def test_reads_every_frame_in_order(video: Path) -> None:
    with VideoReader(video) as reader:
        assert len(reader) == 120
        got = [(i, frame_index(f)) for i, f in reader]
    assert [i for i, _ in got] == list(range(120))
    assert all(i == j for i, j in got)


def test_decode_threads(video: Path) -> None:
    """One decoding thread (what analysis asks for on the CPU) reads the same frames,
    seeking included; a bad count is an error naming it."""
    with VideoReader(video) as auto, VideoReader(video, decode_threads=1) as one:
        assert one._cap.get(cv2.CAP_PROP_N_THREADS) == 1
        for (i, a), (j, b) in zip(auto.frames(0, 40), one.frames(0, 40), strict=True):
            assert i == j
            np.testing.assert_array_equal(a, b)
        sought = one.read_frame(100)
        assert sought is not None and frame_index(sought) == 100
    with pytest.raises(ValueError, match="decode_threads must be a positive integer"):
        VideoReader(video, decode_threads=0)


def test_range_step_and_indices(video: Path) -> None:
    with VideoReader(video) as reader:
        stepped = [(i, frame_index(f)) for i, f in reader.frames(10, 100, step=7)]
        assert [i for i, _ in stepped] == list(range(10, 100, 7))
        assert all(i == j for i, j in stepped)
        wanted = [115, 3, 64, 3, 200, 65, 0]  # unsorted, duplicate, out of range
        picked = [(i, frame_index(f)) for i, f in reader.frames(indices=wanted)]
    assert [i for i, _ in picked] == [0, 3, 64, 65, 115]
    assert all(i == j for i, j in picked)


def test_read_frame_random_access(video: Path) -> None:
    with VideoReader(video, seek_threshold=4) as reader:
        for index in [90, 5, 6, 119, 0, 60, 59]:
            frame = reader.read_frame(index)
            assert frame is not None and frame_index(frame) == index
        with pytest.raises(IndexError, match="frame 120 out of range"):
            reader.read_frame(120)


def test_crop_and_rgb(tmp_path: Path) -> None:
    path = make_video(tmp_path / "c.avi", 20)
    with VideoReader(path) as full, VideoReader(path, crop=(20, 140, 30, 120), rgb=True) as cut:
        assert cut.frame_size == (120, 90)
        whole = full.read_frame(7)
        part = cut.read_frame(7)
    assert whole is not None and part is not None
    assert part.shape == (90, 120, 3)
    np.testing.assert_array_equal(part, whole[30:120, 20:140, ::-1])


def test_crop_larger_than_frame_is_clipped_with_warning(tmp_path: Path) -> None:
    path = make_video(tmp_path / "c.avi", 5)
    with pytest.warns(UserWarning, match="larger than the 160x120 frame"):
        reader = VideoReader(path, crop=(0, 500, 0, 120))
    with reader:
        assert reader.frame_size == (160, 120)


def test_missing_and_unopenable_files(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="video not found"):
        VideoReader(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError) as err:
        VideoReader(junk)
    assert str(junk) in str(err.value) and "cannot open" in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_mp4_cannot_be_opened(tmp_path: Path) -> None:
    path = make_video(tmp_path / "t.mp4", 100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the moov atom at the end is gone
    with pytest.raises(VideoError, match=r"t\.mp4: cannot open video"):
        video_info(path)


def test_truncated_avi_ends_early_with_one_warning(tmp_path: Path) -> None:
    path = make_video(tmp_path / "t.avi", 120)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with VideoReader(path) as reader, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [i for i, _ in reader]
        assert reader.read_frame(110) is None  # past the real end: no new warning
    ends = [w for w in caught if "ends early" in str(w.message)]
    assert len(ends) == 1 and "t.avi" in str(ends[0].message)
    assert 30 < len(got) < 120
    assert got == list(range(len(got)))
    assert reader.end == len(got)


def test_undecodable_middle_frame_is_skipped(tmp_path: Path) -> None:
    path = make_video(tmp_path / "bad.avi", 100)
    corrupt_mjpeg_frame(path, 50)
    with VideoReader(path) as reader:
        with pytest.warns(UserWarning, match=r"bad\.avi: frame\(s\) 50 cannot be decoded"):
            got = [(i, frame_index(f)) for i, f in reader]
        assert reader.bad_frames == [50]
    assert [i for i, _ in got] == [i for i in range(100) if i != 50]
    assert all(i == j for i, j in got)  # indices stay right after the bad frame


def test_seeking_past_an_undecodable_frame_stays_exact(tmp_path: Path) -> None:
    """OpenCV lands on the wrong frame when seeking just past a broken one; the reader
    notices and reads on from the start instead."""
    path = make_video(tmp_path / "bad.avi", 100)
    corrupt_mjpeg_frame(path, 50)
    with VideoReader(path, seek_threshold=2) as reader, warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for index in [10, 60, 51, 30, 99, 70]:
            frame = reader.read_frame(index)
            assert frame is not None and frame_index(frame) == index
        assert reader.read_frame(50) is None
        assert reader.bad_frames == [50]


def test_writer_is_atomic_and_readable(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.mp4"
    with VideoWriter(out, 25, (W, H)) as writer:
        for i in range(30):
            writer.write(make_frame(i))
        assert not out.exists()  # still a temp file
        with pytest.raises(ValueError, match="frame is 10x10"):
            writer.write(np.zeros((10, 10, 3), np.uint8))
    assert out.is_file() and writer.frames_written == 30
    info = video_info(out)
    assert (info.nframes, info.width, info.height) == (30, W, H)
    assert info.fps == pytest.approx(25.0)
    with VideoReader(out) as reader:
        assert [frame_index(f) for _, f in reader] == list(range(30))
    assert [p.name for p in out.parent.iterdir()] == ["out.mp4"]


def test_writer_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), VideoWriter(out, 30, (W, H)) as writer:
        writer.write(make_frame(0))
        raise RuntimeError("boom")
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
