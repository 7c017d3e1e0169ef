"""The tracklet view's server: the labeler's HTTP handler (same Host, token and path
checks) with the routes of one open tracks file.

GET ``/`` the page (``static/tracks.html``); ``/api/tracks`` the file, individuals and
edits; ``/api/timeline?columns=N[&start=a&stop=b]`` per-track summaries downsampled to N
columns; ``/api/frame?frame=i`` body-part positions of one frame (and their trail, with a
``trail_len``); ``/api/swaps`` the body-part swaps DLC's ``find_swapping_bodypart_pairs``
finds; ``/api/image?frame=i``
that video frame as JPEG (404 when the video is not found). POST (JSON, token header)
``/api/swap`` ``{"individuals": [a, b], "start": f[, "stop": g]}`` (no stop: to the end;
with ``"bodyparts": [p, q]``: part p of a and part q of b exchanged over ``[f, g]``),
``/api/delete`` ``{"individual": a, "start": f, "stop": g}``, ``/api/undo``, ``/api/save``,
``/api/mark`` ``{"start": f[, "stop": g][, "on": true|false]}`` (frames for training; no
``on``: toggle), ``/api/train`` (save, then add the marked frames to the training data as
outlier frames of the project). Frame ranges are inclusive. Bad input answers 400 with one
line.
"""

from __future__ import annotations

import os
import secrets
import threading
import webbrowser
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2

from dlcflow.core.log import log
from dlcflow.core.video import VideoError, VideoReader, video_info
from dlcflow.labeler.server import (
    LabelerHandler,
    LabelerHTTPServer,
    Serving,
    _static_files,
    has_display,
)
from dlcflow.labeler.tracks import TrackEditError, TrackSession, open_tracks
from dlcflow.labeler.tracktraining import video_stem
from dlcflow.project.paths import Project

__all__ = ["TrackLabeler", "find_video", "refine_tracklets", "refine_tracks"]

PAGE = "tracks.html"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg")


def find_video(tracks: Path, scorer: str, project: Project | None = None) -> Path | None:
    """The video a tracks file was made from: beside it, in the project's ``videos/`` or
    ``video_sets``; None when none is found."""
    stem = video_stem(tracks, scorer)
    folders = [tracks.parent]
    if project is not None:
        folders.append(project.root / "videos")
        for key in project.video_sets:
            if Path(key).stem == stem:
                video = project.resolve_video(key)
                if video.is_file():
                    return video
    for folder in folders:
        for suffix in VIDEO_SUFFIXES:
            for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
                if candidate.is_file():
                    return candidate
    return None


def _int_arg(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = query.get(name)
    if not values or values[0] == "":
        return default
    try:
        return int(values[0])
    except ValueError:
        raise TrackEditError(f"{name} must be an integer, not {values[0]!r}") from None


class TrackHandler(LabelerHandler):
    """The labeler's handler with the tracklet view's routes (see the module docstring)."""

    server: TrackHTTPServer

    def _get_route(self, path: str, query: dict[str, list[str]], from_url: bool) -> None:
        session = self.server.session
        if path in ("/", "/index.html"):
            self._index(from_url, PAGE)
        elif path.startswith("/static/") and path != f"/static/{PAGE}":
            self._static(path[len("/static/") :])
        elif path == "/api/tracks":
            info = session.info()
            info["video"] = self.server.video.name if self.server.video else None
            self._json(info)
        elif path == "/api/timeline":
            columns = _int_arg(query, "columns", 2000)
            start = _int_arg(query, "start", 0)
            self._json(session.timeline(columns, start, _int_arg(query, "stop", None)))
        elif path == "/api/frame":
            self._json(session.frame(_int_arg(query, "frame", 0)))
        elif path == "/api/swaps":
            self._json(session.swaps())
        elif path == "/api/image":
            self._image(_int_arg(query, "frame", 0) or 0)
        else:
            self._error(404, f"not found: {path}")

    def _image(self, index: int) -> None:
        """One frame of the video as JPEG (decoded on demand; never used for the timeline)."""
        session = self.server.session
        session.frame(index)  # checks the range
        video = self.server.video
        if video is None:
            self._error(404, f"no video found for {session.path.name}")
            return
        with self.server.video_lock:
            try:
                with VideoReader(video, rgb=False) as reader:
                    frame = reader.read_frame(index) if index < reader.nframes else None
            except VideoError as err:
                self._error(404, str(err))
                return
        if frame is None:
            self._error(404, f"{video.name}: frame {index} cannot be read")
            return
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            self._error(500, f"{video.name}: frame {index} could not be encoded")
            return
        self._send(200, jpeg.tobytes(), "image/jpeg")

    def _post_route(self, path: str, body: dict[str, Any]) -> None:
        session = self.server.session
        if path == "/api/swap":
            pair = body.get("individuals")
            if not isinstance(pair, list) or len(pair) != 2:
                raise TrackEditError("swap needs two individuals: {'individuals': [a, b]}")
            if "bodyparts" in body:
                parts = body["bodyparts"]
                if not isinstance(parts, list):
                    raise TrackEditError("bodyparts must be a list: {'bodyparts': [p, q]}")
                self._json(session.swap_parts(pair, parts, body.get("start"), body.get("stop")))
                return
            self._json(session.swap(pair[0], pair[1], body.get("start"), body.get("stop")))
        elif path == "/api/delete":
            self._json(session.delete(body.get("individual"), body.get("start"), body.get("stop")))
        elif path == "/api/undo":
            self._json(session.undo())
        elif path == "/api/save":
            self._json(session.save())
        elif path == "/api/mark":
            self._json(session.mark(body.get("start"), body.get("stop"), body.get("on")))
        elif path == "/api/train":
            self._json(session.add_to_training(self.server.config, self.server.video))
        else:
            self._error(404, f"not found: {path}")


class TrackHTTPServer(LabelerHTTPServer):
    """The threading server carrying the open tracks, the token and the page's files."""

    def __init__(self, port: int, session: TrackSession, token: str, video: Path | None,
                 config: Path | None = None, verbose: bool = False) -> None:  # fmt: skip
        self.session = session
        self.video = video
        self.config = config
        self.video_lock = threading.Lock()
        self.token = token
        self.verbose = verbose
        self.static = _static_files()
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", port), TrackHandler)


class TrackLabeler(Serving):
    """A tracklet-view server for one tracks file (or tracklet pickle) on 127.0.0.1
    (``port=0``: a free port).

    ``config`` (optional; needed for a pickle) helps find the video for the frame view and
    is the project that marked frames are added to (without it, adding them is refused);
    ``video`` the video itself (default: found beside the file or in the project);
    ``options`` those of :func:`dlcflow.labeler.tracks.open_tracks` (``max_gap``,
    ``min_swap_len``, ``min_tracklet_len``, ``trail_len``). :meth:`start` serves from a
    background thread, :meth:`serve_forever` in the foreground, :meth:`close` stops.
    """

    def __init__(
        self,
        tracks: str | os.PathLike[str],
        config: str | os.PathLike[str] | None = None,
        port: int = 0,
        token: str | None = None,
        verbose: bool = False,
        video: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        self.session = open_tracks(tracks, config, **options)
        project = Project(config) if config is not None else None
        if video is not None:
            self.video: Path | None = Path(video)
            if not self.video.is_file():
                raise TrackEditError(f"{self.video}: video not found")
        else:
            self.video = find_video(self.session.path, self.session.scorer, project)
        self._check_length()
        self.token = token or secrets.token_urlsafe(32)
        where = project.config_path if project is not None else None
        try:
            self.httpd = TrackHTTPServer(port, self.session, self.token, self.video, where, verbose)
        except OSError as err:
            raise OSError(
                f"cannot listen on 127.0.0.1:{port} ({err.strerror}); "
                "pick another --port or leave it out for a free one"
            ) from None
        self._thread: threading.Thread | None = None

    def _check_length(self) -> None:
        """Say so when the video's frame count and the tracks' differ by 5% or more (as
        DLC's window does: OpenCV's count is approximate, so it goes on)."""
        if self.video is None:
            return
        try:
            n = video_info(self.video).nframes
        except VideoError:
            return
        tracks = self.session.nframes
        if n and abs(n - tracks) >= 0.05 * tracks:
            log(
                f"dlcflow refine-tracks: {self.video.name} has {n} frames, the tracks {tracks}: "
                "is it their video? (continuing)"
            )

    @property
    def url(self) -> str:
        """The page's URL, token included."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"


def refine_tracklets(
    config: str | os.PathLike[str],
    pickle_or_h5_file: str | os.PathLike[str],
    video: str | os.PathLike[str] | None = None,
    min_swap_len: float = 2,
    min_tracklet_len: int = 2,
    max_gap: int = 2,
    trail_len: int = 0,
    port: int = 0,
    open_browser: bool = True,
    serve: bool = True,
) -> TrackLabeler:
    """DLC's ``refine_tracklets`` in the browser: open a tracklet pickle (``_el.pickle``;
    tracklets of ``min_tracklet_len`` frames or fewer dropped, the rest placed into the
    config's individuals; saved to ``<stem><scorer>_el.h5``) or a tracks ``.h5`` (saved in
    place, the original kept as ``.bak``), gaps of up to ``max_gap`` frames filled
    (0: all) with likelihood 0.01, the body-part swaps of more than ``min_swap_len``
    crossings marked on the timeline (keys N / P), a trail of ``trail_len`` frames around
    each part in the frame view. DLC's defaults (its user guide calls it with
    ``max_gap=0, trail_len=50``). ``video`` None: found beside the file or in the project.

    Serves until Ctrl+C (``serve=False``: returns the started server at once, without a
    browser, for scripts and tests; close it with ``.close()``); returns the server."""
    labeler = TrackLabeler(
        pickle_or_h5_file,
        config,
        port=port,
        video=video,
        min_swap_len=min_swap_len,
        min_tracklet_len=min_tracklet_len,
        max_gap=max_gap,
        trail_len=trail_len,
    )
    if not serve:
        labeler.start()
        return labeler
    _serve(labeler, open_browser)
    return labeler


def refine_tracks(
    config: str | os.PathLike[str] | None,
    tracks: str | os.PathLike[str],
    port: int = 0,
    open_browser: bool = True,
) -> None:
    """Refine a multi-animal tracks file (``_el.h5``) in the browser until Ctrl+C: swap
    identities, delete stretches, undo, save, and add marked frames to the training data
    (no gap filling; :func:`refine_tracklets` is DLC's function with its options)."""
    _serve(TrackLabeler(tracks, config, port=port), open_browser)


def _serve(labeler: TrackLabeler, open_browser: bool) -> None:
    """Print where the page is, open a browser where there is a display, serve until
    Ctrl+C, then close."""
    session = labeler.session
    print(f"dlcflow refine-tracks: {session.source}")
    if session.source != session.path:
        print(f"    saves to {session.path}")
    if session.filled:
        print(f"    {session.filled} missing parts filled in (likelihood 0.01)")
    print(f"    {labeler.url}")
    video = labeler.video.name if labeler.video else "none found (positions only)"
    print(
        f"video: {video}. Open the URL in a browser (over SSH: ssh -L 8765:127.0.0.1:"
        f"{labeler.port} HOST, then use port 8765). Ctrl+C stops; Save writes the file; "
        "Add to training data extracts the frames marked with T.",
        flush=True,
    )
    if open_browser and has_display():
        threading.Timer(0.3, webbrowser.open, args=(labeler.url,)).start()
    elif open_browser:
        print("(no display here, so no browser was opened)", flush=True)
    try:
        labeler.serve_forever()
    except KeyboardInterrupt:
        unsaved = " (edits not saved)" if labeler.session.dirty else ""
        print(f"dlcflow refine-tracks: stopped{unsaved}")
    finally:
        labeler.close()
