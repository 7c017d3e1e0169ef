"""The labeler's HTTP server: the standard library's ThreadingHTTPServer on 127.0.0.1.

Safety, in the order checked on every request:

1. The Host header must name this machine (``localhost``, ``127.0.0.1``, ``[::1]``; any
   port, so SSH port forwarding works): a page on another site that points a DNS name at
   127.0.0.1 (DNS rebinding) is refused.
2. The token: ``?token=`` in the URL (then kept in an HttpOnly, SameSite=Strict cookie, as
   Jupyter does), the cookie, or the ``X-Dlcflow-Token`` header, compared in constant
   time. Requests that change files (POST) need the header and a JSON body, which a page
   on another site cannot send without a CORS preflight this server never answers.
3. Paths: a ``..`` or ``.`` segment, a backslash, a NUL, or an absolute path is refused;
   files are served only from the project's ``labeled-data/`` (images only) after
   resolving symlinks, and static files only from a fixed list of the package's files.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import webbrowser
from email.utils import formatdate
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

from dlcflow.io.labels import LabelError
from dlcflow.labeler.skeleton import read_skeleton, save_skeleton
from dlcflow.labeler.store import IMAGE_SUFFIXES, LabelerError, LabelStore, Mode

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_BODY = 32 * 1024 * 1024
TOKEN_HEADER = "X-Dlcflow-Token"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _static_files() -> dict[str, bytes]:
    """The page's files, read once from the package (the only static files served)."""
    folder = resources.files("dlcflow.labeler") / "static"
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and Path(entry.name).suffix in _TYPES
    }


def host_is_local(host: str) -> bool:
    """Whether a Host header names this machine (any port)."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in LOCAL_HOSTS


def unsafe_path(path: str) -> bool:
    """Whether a decoded URL path tries to leave where it points (``..``, ``.``, ``\\``,
    NUL, empty segments)."""
    if "\\" in path or "\x00" in path or not path.startswith("/"):
        return True
    segments = path[1:].split("/")
    return any(s in (".", "..") for s in segments) or "" in segments[:-1]


class LabelerHandler(BaseHTTPRequestHandler):
    """One request: checks Host, token and path, then routes (see the module docstring)."""

    server: LabelerHTTPServer
    server_version = "dlcflow-labeler"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    _body_read = True

    # -- responses ---------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", _CSP)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Cache-Control" not in (headers or {}):
            self.send_header("Cache-Control", "no-store")
        if self.command == "POST" and not self._body_read:  # unread body: end the connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        body = json.dumps(data, separators=(",", ":")).encode()
        self._send(status, body, "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Quiet unless verbose (the page shows errors itself)."""
        if self.server.verbose:
            sys.stderr.write(f"dlcflow labeler: {format % args}\n")

    # -- checks ------------------------------------------------------------------------------
    def _cookie_name(self) -> str:
        return f"dlcflow-token-{self.server.server_address[1]}"

    def _given_token(self, query: dict[str, list[str]]) -> tuple[str, bool]:
        """(token, came from the URL)."""
        if query.get("token"):
            return query["token"][0], True
        header = self.headers.get(TOKEN_HEADER)
        if header:
            return header, False
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return "", False
        morsel = cookie.get(self._cookie_name())
        return (morsel.value if morsel else ""), False

    def _admit(self) -> tuple[str, dict[str, list[str]], bool] | None:
        """Run the checks; answer and return None when the request is refused."""
        if not host_is_local(self.headers.get("Host", "")):
            self._error(403, "refused: the Host header does not name this machine")
            return None
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        token, from_url = self._given_token(query)
        if not secrets.compare_digest(token.encode(), self.server.token.encode()):
            self._error(403, "refused: missing or wrong token (open the URL dlcflow printed)")
            return None
        raw = parts.path
        path = unquote(raw)
        if unsafe_path(raw) or unsafe_path(path):
            self._error(400, "refused: path leaves the served folders")
            return None
        return path, query, from_url

    # -- GET ---------------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 (stdlib name)
        """As GET, without the body."""
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        """The page, its static files, project/video JSON and frame images."""
        admitted = self._admit()
        if admitted is None:
            return
        path, query, from_url = admitted
        try:
            self._get_route(path, query, from_url)
        except (LabelerError, LabelError) as err:
            self._error(400, str(err))
        except FileNotFoundError as err:
            self._error(404, f"not found: {Path(err.filename or '').name or err}")
        except Exception as err:  # answer instead of dropping the connection
            self._error(500, f"internal error: {type(err).__name__}: {err}")

    def _get_route(self, path: str, query: dict[str, list[str]], from_url: bool) -> None:
        """Answer an admitted GET (subclasses serve other pages and APIs)."""
        if path in ("/", "/index.html"):
            self._index(from_url)
        elif path.startswith("/static/"):
            self._static(path[len("/static/") :])
        elif path == "/api/project":
            self._json(self.server.store.info())
        elif path.startswith("/api/video/"):
            self._json(self.server.store.video_data(path[len("/api/video/") :]))
        elif path == "/api/skeleton":
            self._json({"skeleton": read_skeleton(self.server.store.project)})
        elif path.startswith("/files/"):
            self._file(path[len("/files/") :])
        else:
            self._error(404, f"not found: {path}")

    def _index(self, from_url: bool, page_name: str = "index.html") -> None:
        page = self.server.static[page_name].replace(b"%%TOKEN%%", self.server.token.encode())
        headers = {}
        if from_url:
            headers["Set-Cookie"] = (
                f"{self._cookie_name()}={self.server.token}; Path=/; HttpOnly; SameSite=Strict"
            )
        self._send(200, page, _TYPES[".html"], headers)

    def _static(self, name: str) -> None:
        body = self.server.static.get(name)
        if body is None or name == "index.html":
            self._error(404, f"not found: /static/{name}")
            return
        ctype = _TYPES[Path(name).suffix]
        self._send(200, body, ctype, {"Cache-Control": "no-cache"})

    def _file(self, rel: str) -> None:
        """An image under the project's labeled-data folder, cached by the browser (the
        page asks with ``?v=<mtime>``, so a changed file gets a new URL)."""
        root = self.server.store.root.resolve()
        if rel.startswith("/") or ":" in rel or not rel:
            self._error(400, "refused: not a path inside the project")
            return
        target = (root / rel).resolve()
        allowed = (root / "labeled-data").resolve()
        if not target.is_relative_to(allowed) or target.suffix.lower() not in IMAGE_SUFFIXES:
            self._error(403, "refused: only images under labeled-data/ are served")
            return
        stat = target.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        cache = {
            "Cache-Control": "private, max-age=31536000, immutable",
            "ETag": etag,
            "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
        }
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            for name, value in cache.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(200, target.read_bytes(), _TYPES[target.suffix.lower()], cache)

    # -- POST --------------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        """``/api/save``, ``/api/remove``, ``/api/skeleton`` (JSON bodies, token header
        required)."""
        self._body_read = False
        admitted = self._admit()
        if admitted is None:
            return
        path = admitted[0]
        header = self.headers.get(TOKEN_HEADER, "")
        if not secrets.compare_digest(header.encode(), self.server.token.encode()):
            self._error(403, f"refused: changes need the {TOKEN_HEADER} header")
            return
        if self.headers.get_content_type() != "application/json":
            self._error(415, "refused: send JSON (Content-Type: application/json)")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(411, "refused: Content-Length missing")
            return
        if not 0 <= length <= MAX_BODY:
            self._error(413, f"refused: body over {MAX_BODY} bytes")
            return
        try:
            raw = self.rfile.read(length)
            self._body_read = True
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise LabelerError("the request body must be a JSON object")
            self._post_route(path, body)
        except json.JSONDecodeError as err:
            self._error(400, f"body is not JSON ({err.msg})")
        except (LabelerError, LabelError) as err:
            self._error(400, str(err))
        except OSError as err:
            self._error(500, f"could not write: {err}")
        except Exception as err:  # answer instead of dropping the connection
            self._error(500, f"internal error: {type(err).__name__}: {err}")

    def _post_route(self, path: str, body: dict[str, Any]) -> None:
        """Answer an admitted POST with its JSON body (subclasses add their APIs)."""
        store = self.server.store
        if path == "/api/save":
            video = str(body.get("video", ""))
            result = store.save(video, body.get("frames") or {}, bool(body.get("adjust")))
            self._json(result)
        elif path == "/api/remove":
            result = store.remove_frame(str(body.get("video", "")), str(body.get("frame", "")))
            self._json(result)
        elif path == "/api/skeleton":
            self._json({"skeleton": save_skeleton(store.project, body.get("skeleton"))})
        else:
            self._error(404, f"not found: {path}")


class LabelerHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the store, the token and the page's files."""

    daemon_threads = True
    request_queue_size = 64  # a browser opens several connections at once

    def __init__(self, port: int, store: LabelStore, token: str, verbose: bool = False):
        self.store = store
        self.token = token
        self.verbose = verbose
        self.static = _static_files()
        super().__init__(("127.0.0.1", port), LabelerHandler)


class Serving:
    """A page server run from a daemon thread (``start``) or this one (``serve_forever``):
    what the labeler and the tracklet view share. Subclasses set ``httpd`` and ``url``."""

    httpd: ThreadingHTTPServer
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on (127.0.0.1)."""
        return int(self.httpd.server_address[1])

    def start(self) -> Self:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until shut down (or Ctrl+C)."""
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Labeler(Serving):
    """A labeling (or refinement) server for one project, bound to 127.0.0.1.

    ``port=0`` picks a free port. Use :meth:`start` to serve from a background thread (tests,
    notebooks) or :meth:`serve_forever` in the foreground; :meth:`close` stops it.
    """

    def __init__(
        self,
        config: str | os.PathLike[str],
        mode: Mode = "label",
        port: int = 0,
        video: str | None = None,
        token: str | None = None,
        verbose: bool = False,
        skeleton: bool = False,
    ):
        self.skeleton = skeleton
        self.store = LabelStore(config, mode)
        videos = self.store.videos()
        if not any(self.store.frames(v) for v in videos):
            project = self.store.project
            if mode == "refine":
                name = project.machine_labels("<video>", self.store.iteration).name
                raise LabelerError(
                    f"no frames to refine: no {name} listing frames in "
                    f"{project.labeled_data_dir}; extract outlier frames first "
                    "(the `outliers` target)"
                )
            raise LabelerError(
                f"no frames in {project.labeled_data_dir}: extract frames first "
                f"(dlcflow extract-frames {project.config_path})"
            )
        if video is not None and video not in videos:
            raise LabelerError(f"no video {video!r} to {mode}; there are: {', '.join(videos)}")
        self.video = video
        self.token = token or secrets.token_urlsafe(32)
        try:
            self.httpd = LabelerHTTPServer(port, self.store, self.token, verbose)
        except OSError as err:
            raise OSError(
                f"cannot listen on 127.0.0.1:{port} ({err.strerror}); "
                "pick another --port or leave it out for a free one"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's URL, token included."""
        extra = f"&video={quote(self.video)}" if self.video else ""
        extra += "&skeleton=1" if self.skeleton else ""
        return f"http://127.0.0.1:{self.port}/?token={self.token}{extra}"


def has_display() -> bool:
    """Whether a graphical browser can open here (not on a display-less SSH session, where
    webbrowser would start a text browser in the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def launch(
    config: str | os.PathLike[str],
    mode: Mode = "label",
    video: str | None = None,
    port: int = 0,
    open_browser: bool = True,
    skeleton: bool = False,
) -> None:
    """Serve the labeler until Ctrl+C: print the URL, open the browser unless told not to
    (``skeleton``: the page opens in the skeleton builder)."""
    labeler = Labeler(config, mode, port=port, video=video, skeleton=skeleton)
    project = labeler.store.project
    print(f"dlcflow {mode}: {project.config_path}")
    print(f"    {labeler.url}")
    print(
        "Open the URL in a browser (over SSH: ssh -L 8765:127.0.0.1:"
        f"{labeler.port} HOST, then use port 8765). Ctrl+C stops; saved labels stay on disk.",
        flush=True,
    )
    if open_browser and has_display():
        threading.Timer(0.3, webbrowser.open, args=(labeler.url,)).start()
    elif open_browser:
        print("(no display here, so no browser was opened)", flush=True)
    try:
        labeler.serve_forever()
    except KeyboardInterrupt:
        print(f"dlcflow {mode}: stopped")
    finally:
        labeler.close()


def label_frames(
    config: str | os.PathLike[str],
    video: str | None = None,
    port: int = 0,
    open_browser: bool = True,
) -> None:
    """Label the extracted frames in the browser (DLC's ``label_frames``)."""
    launch(config, "label", video, port, open_browser)


def refine_labels(
    config: str | os.PathLike[str],
    video: str | None = None,
    port: int = 0,
    open_browser: bool = True,
) -> None:
    """Correct machine labels (``machinelabels-iter<N>.h5``) in the browser and merge them
    into CollectedData (DLC's ``refine_labels``)."""
    launch(config, "refine", video, port, open_browser)


def SkeletonBuilder(  # noqa: N802 (DLC's name)
    config_path: str | os.PathLike[str], port: int = 0, open_browser: bool = True
) -> None:
    """Draw the skeleton on a labeled frame and save it to config.yaml's ``skeleton``
    (DLC's ``SkeletonBuilder(config_path)``): the labeler, opened in its skeleton mode."""
    launch(config_path, "label", None, port, open_browser, skeleton=True)


#: DLC's older name of :func:`refine_labels` (its earlier user guides call it so).
refine_frames = refine_labels

__all__ = [
    "Labeler",
    "SkeletonBuilder",
    "label_frames",
    "launch",
    "refine_frames",
    "refine_labels",
]
