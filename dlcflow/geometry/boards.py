"""Calibration boards: DLC's checkerboard and OpenCV's ChArUco board.

Both give the board's corners in the board frame (``object_points``, ``(n, 3)`` on
``z = 0``, in the board's unit: mm when ``square_size`` is in mm), find them in a grayscale
image (:meth:`detect` → :class:`Detection` with corner ids and subpixel pixel positions)
and draw them. A checkerboard detection has every corner (ids ``0 .. n-1``); a ChArUco
detection may have a subset.

The checkerboard follows DLC 2.3: ``cbcol × cbrow`` inner corners (OpenCV's pattern size
``(cbcol, cbrow)``), object points ``np.mgrid[0:cbcol, 0:cbrow].T.reshape(-1, 2)`` times
the square size, corners refined by ``cornerSubPix`` over an 11 × 11 window (30 iterations
or 0.001 px).

:meth:`texture` gives a printable picture of the board with a white margin of one square
(what :mod:`dlcflow.devtools.render3d` renders through a camera).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["Board", "CharucoBoard", "Checkerboard", "Detection", "SUBPIX_CRITERIA", "make_board"]

#: DLC's termination criteria of ``cornerSubPix``.
SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)
SUBPIX_WINDOW = (11, 11)


@dataclass(frozen=True, eq=False)
class Detection:
    """Board corners found in one image: ``ids`` (k,) into the board's ``object_points``
    and ``corners`` (k, 2) in pixels (x the column, y the row)."""

    ids: np.ndarray
    corners: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.size)


def _gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(img, dtype=np.uint8)


def _bgr(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img.copy()


def _window(corners: np.ndarray, largest: int, share: float = 0.45) -> tuple[int, int]:
    """``cornerSubPix``'s half window: DLC's ``largest`` unless the board's squares are
    so small in the image that it would reach the next corners (then ``share`` of the
    median corner spacing)."""
    if len(corners) < 2:
        return (largest, largest)
    gaps = np.linalg.norm(corners[:, None] - corners[None], axis=-1)
    gaps[np.diag_indices_from(gaps)] = np.inf
    half = int(np.clip(share * np.median(gaps.min(axis=1)), 2, largest))
    return (half, half)


class Board:
    """What a calibration board offers (see :class:`Checkerboard`, :class:`CharucoBoard`)."""

    square_size: float
    #: True when a 180° turn of the board looks the same (corner order is then ambiguous).
    symmetric: bool = False

    @property
    def object_points(self) -> np.ndarray:  # (n, 3)
        raise NotImplementedError

    @property
    def min_corners(self) -> int:
        """Fewest corners a detection must have to be used."""
        return len(self.object_points)

    def detect(self, image: np.ndarray) -> Detection | None:
        raise NotImplementedError

    def draw(self, image: np.ndarray, detection: Detection | None) -> np.ndarray:
        raise NotImplementedError

    def texture(self, pixels_per_square: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """The board as a picture (uint8, white margin of one square) and the board
        coordinates ``(x, y)`` of its top-left corner; picture pixel ``(c, r)`` covers
        board ``origin + [c, c+1) × [r, r+1) · square_size / pixels_per_square``."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Checkerboard(Board):
    """DLC's checkerboard: ``cbcol × cbrow`` inner corners of squares ``square_size``."""

    cbrow: int = 8
    cbcol: int = 6
    square_size: float = 1.0
    _objp: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cbrow < 2 or self.cbcol < 2:
            raise ValueError(
                "a checkerboard needs 2 or more inner corners a side, "
                f"got {self.cbcol} × {self.cbrow}"
            )
        if not self.square_size > 0:
            raise ValueError(f"square size must be positive, got {self.square_size}")
        objp = np.zeros((self.cbrow * self.cbcol, 3))
        objp[:, :2] = np.mgrid[0 : self.cbcol, 0 : self.cbrow].T.reshape(-1, 2)
        object.__setattr__(self, "_objp", objp * float(self.square_size))

    @property
    def pattern_size(self) -> tuple[int, int]:
        """OpenCV's pattern size ``(cbcol, cbrow)``."""
        return (self.cbcol, self.cbrow)

    @property
    def symmetric(self) -> bool:  # type: ignore[override]
        # (cbcol + 1) × (cbrow + 1) squares look the same turned by 180° when the sum is even
        return (self.cbcol + self.cbrow) % 2 == 0

    @property
    def object_points(self) -> np.ndarray:
        return self._objp

    def detect(self, image: np.ndarray) -> Detection | None:
        gray = _gray(image)
        found, corners = cv2.findChessboardCorners(gray, self.pattern_size, None)
        if not found or corners is None:
            return None
        window = _window(corners.reshape(-1, 2), SUBPIX_WINDOW[0])
        corners = cv2.cornerSubPix(gray, corners, window, (-1, -1), SUBPIX_CRITERIA)
        return Detection(np.arange(len(self._objp)), corners.reshape(-1, 2).astype(np.float64))

    def draw(self, image: np.ndarray, detection: Detection | None) -> np.ndarray:
        out = _bgr(image)
        if detection is not None:
            pts = detection.corners.reshape(-1, 1, 2).astype(np.float32)
            cv2.drawChessboardCorners(out, self.pattern_size, pts, True)
        return out

    def texture(self, pixels_per_square: int = 32) -> tuple[np.ndarray, np.ndarray]:
        nx, ny = self.cbcol + 1, self.cbrow + 1  # squares
        a, b = np.meshgrid(np.arange(nx), np.arange(ny))
        cells = np.where((a + b) % 2 == 0, 0, 255).astype(np.uint8)
        cells = np.pad(cells, 1, constant_values=255)  # white margin of one square
        img = np.kron(cells, np.ones((pixels_per_square, pixels_per_square), np.uint8))
        s = float(self.square_size)
        return img, np.array([-2 * s, -2 * s])

    def describe(self) -> str:
        return f"checkerboard of {self.cbcol} × {self.cbrow} inner corners"


_ARUCO_DICTS = {
    name: getattr(cv2.aruco, name) for name in dir(cv2.aruco) if name.startswith("DICT_")
}


@dataclass(frozen=True, eq=False)
class CharucoBoard(Board):
    """OpenCV's ChArUco board of ``squares_x × squares_y`` squares; ids and object points
    of its ``(squares_x - 1) × (squares_y - 1)`` inner corners are OpenCV's."""

    squares_x: int = 7
    squares_y: int = 5
    square_length: float = 1.0
    marker_length: float = 0.75
    dictionary: str = "DICT_4X4_50"
    _board: object = field(init=False, repr=False)
    _detector: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.squares_x < 3 or self.squares_y < 3:
            raise ValueError(
                "a ChArUco board needs 3 or more squares a side, "
                f"got {self.squares_x} × {self.squares_y}"
            )
        if not 0 < self.marker_length < self.square_length:
            raise ValueError(
                f"ChArUco marker length {self.marker_length} must be positive and below "
                f"the square length {self.square_length}"
            )
        if self.dictionary not in _ARUCO_DICTS:
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}")
        d = cv2.aruco.getPredefinedDictionary(_ARUCO_DICTS[self.dictionary])
        board = cv2.aruco.CharucoBoard(
            (self.squares_x, self.squares_y),
            float(self.square_length),
            float(self.marker_length),
            d,
        )
        object.__setattr__(self, "_board", board)
        object.__setattr__(self, "_detector", cv2.aruco.CharucoDetector(board))

    @property
    def square_size(self) -> float:  # type: ignore[override]
        return float(self.square_length)

    @property
    def object_points(self) -> np.ndarray:
        return np.asarray(self._board.getChessboardCorners(), dtype=np.float64).reshape(-1, 3)

    @property
    def min_corners(self) -> int:
        return 6

    def detect(self, image: np.ndarray) -> Detection | None:
        gray = _gray(image)
        corners, ids, _, _ = self._detector.detectBoard(gray)
        if ids is None or corners is None or len(ids) < self.min_corners:
            return None
        ids = ids.reshape(-1).astype(np.int64)
        corners = corners.reshape(-1, 1, 2).astype(np.float32)
        if self._board.checkCharucoCornersCollinear(ids.reshape(-1, 1).astype(np.int32)):
            return None
        # refined within a window inside the square's image (the markers stay outside it)
        window = _window(corners.reshape(-1, 2), SUBPIX_WINDOW[0], share=0.3)
        corners = cv2.cornerSubPix(gray, corners, window, (-1, -1), SUBPIX_CRITERIA)
        order = np.argsort(ids)
        return Detection(ids[order], corners.reshape(-1, 2)[order].astype(np.float64))

    def draw(self, image: np.ndarray, detection: Detection | None) -> np.ndarray:
        out = _bgr(image)
        if detection is not None and len(detection):
            cv2.aruco.drawDetectedCornersCharuco(
                out,
                detection.corners.reshape(-1, 1, 2).astype(np.float32),
                detection.ids.reshape(-1, 1).astype(np.int32),
                (0, 0, 255),
            )
        return out

    def texture(self, pixels_per_square: int = 32) -> tuple[np.ndarray, np.ndarray]:
        p = int(pixels_per_square)
        img = self._board.generateImage((self.squares_x * p, self.squares_y * p), marginSize=0)
        img = np.pad(img, p, constant_values=255)
        s = float(self.square_length)
        return img, np.array([-s, -s])

    def describe(self) -> str:
        return f"ChArUco board of {self.squares_x} × {self.squares_y} squares ({self.dictionary})"


def make_board(
    kind: str = "checkerboard",
    cbrow: int = 8,
    cbcol: int = 6,
    square_size: float = 1.0,
    charuco: dict | None = None,
) -> Board:
    """A board by name: ``"checkerboard"`` (``cbrow``, ``cbcol``) or ``"charuco"``
    (``charuco``: ``squares_x``, ``squares_y``, ``marker_length`` (or
    ``marker_ratio`` of the square), ``dictionary``); squares of ``square_size``."""
    if kind == "checkerboard":
        return Checkerboard(cbrow=int(cbrow), cbcol=int(cbcol), square_size=float(square_size))
    if kind == "charuco":
        opts = dict(charuco or {})
        unknown = set(opts) - {
            "squares_x",
            "squares_y",
            "marker_length",
            "marker_ratio",
            "dictionary",
        }
        if unknown:
            raise ValueError(f"unknown ChArUco options {sorted(unknown)}")
        ratio = float(opts.get("marker_ratio", 0.75))
        marker = opts.get("marker_length")
        return CharucoBoard(
            squares_x=int(opts.get("squares_x", 7)),
            squares_y=int(opts.get("squares_y", 5)),
            square_length=float(square_size),
            marker_length=float(marker) if marker is not None else ratio * float(square_size),
            dictionary=str(opts.get("dictionary", "DICT_4X4_50")),
        )
    raise ValueError(f"unknown board {kind!r} (checkerboard or charuco)")
