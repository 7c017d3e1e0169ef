"""Calibration boards: DLC's checkerboard and ChArUco boards (``cv2.aruco``).

A board knows its corners on its own plane (``object_points``, ``z = 0``, in the unit of
``square_size``/``square_length``: mm when given in mm), finds them in a grayscale image
(:meth:`detect` → :class:`Detection`: which corners, where, to subpixel accuracy) and
draws what it found. The board frame: ``x`` along the board's rows, ``y`` down the board as
its printout shows it, ``z = x × y`` into the board (away from a camera that sees it).

The checkerboard is DLC's: ``cbcol × cbrow`` inner corners, pattern size ``(cbcol,
cbrow)``, object points in ``np.mgrid[0:cbcol, 0:cbrow]`` order (``x`` fastest) times the
square size, ``findChessboardCorners`` then ``cornerSubPix`` (window 11 × 11, 30 iterations
or 0.001). Its detections are ambiguous up to a half turn when ``cbcol + cbrow`` is even
(the pattern looks the same turned around): :attr:`Board.symmetries` lists the corner
orders that fit as well, for the extrinsic calibration to choose from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

__all__ = ["Board", "CharucoBoard", "Checkerboard", "Detection", "make_board"]

#: cornerSubPix's stopping rule, as DLC: 30 iterations or a move under 0.001 px.
SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)


@dataclass(frozen=True, eq=False)
class Detection:
    """The corners of a board found in one image: ``ids`` (k,) index ``object_points``,
    ``corners`` (k, 2) their pixels (x = column, y = row)."""

    ids: np.ndarray
    corners: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64).reshape(-1))
        object.__setattr__(
            self, "corners", np.asarray(self.corners, dtype=np.float64).reshape(-1, 2)
        )
        if len(self.ids) != len(self.corners):
            raise ValueError(f"{len(self.ids)} corner ids but {len(self.corners)} corners")

    def __len__(self) -> int:
        return len(self.ids)

    def reordered(self, permutation: np.ndarray) -> Detection:
        """The same corners named by ``permutation[ids]`` (a symmetry of the board)."""
        return Detection(np.asarray(permutation)[self.ids], self.corners)


class Board(Protocol):
    """What the calibration asks of a board."""

    @property
    def object_points(self) -> np.ndarray: ...  # (n, 3)

    @property
    def square(self) -> float: ...  # the side of a square

    @property
    def symmetries(self) -> list[np.ndarray]: ...  # corner permutations other than identity

    @property
    def min_corners(self) -> int: ...

    @property
    def extent(self) -> tuple[float, float, float, float]: ...  # x0, y0, x1, y1 of the printout

    def texture(self, pixels_per_unit: float) -> np.ndarray: ...

    def detect(self, gray: np.ndarray) -> Detection | None: ...

    def draw(self, image: np.ndarray, detection: Detection | None) -> np.ndarray: ...


def _gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


def _color(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img.copy()


@dataclass(frozen=True)
class Checkerboard:
    """DLC's checkerboard: ``cbcol × cbrow`` inner corners, squares of ``square_size``."""

    cbrow: int = 8
    cbcol: int = 6
    square_size: float = 1.0

    def __post_init__(self) -> None:
        if self.cbrow < 2 or self.cbcol < 2:
            raise ValueError(
                f"a checkerboard needs 2 × 2 inner corners or more, got {self.cbcol} × {self.cbrow}"
            )
        if not self.square_size > 0:
            raise ValueError(f"square size must be positive, got {self.square_size}")

    @property
    def square(self) -> float:
        return float(self.square_size)

    @property
    def pattern_size(self) -> tuple[int, int]:
        return (self.cbcol, self.cbrow)

    @property
    def object_points(self) -> np.ndarray:
        pts = np.zeros((self.cbcol * self.cbrow, 3))
        pts[:, :2] = np.mgrid[0 : self.cbcol, 0 : self.cbrow].T.reshape(-1, 2)
        return pts * self.square_size

    @property
    def symmetries(self) -> list[np.ndarray]:
        n = self.cbcol * self.cbrow
        # OpenCV may start at either end of the pattern; reversed order = half turn.
        return [np.arange(n)[::-1].copy()]

    @property
    def min_corners(self) -> int:
        return self.cbcol * self.cbrow

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """The printout with a white margin of one square around the squares."""
        s = self.square_size
        return (-2 * s, -2 * s, (self.cbcol + 1) * s, (self.cbrow + 1) * s)

    def texture(self, pixels_per_unit: float) -> np.ndarray:
        """The printout of :attr:`extent` as a uint8 image, ``pixels_per_unit`` pixels per
        unit of length (texel centres at ``x0 + (col + 0.5) / pixels_per_unit``)."""
        x0, y0, x1, y1 = self.extent
        w = int(round((x1 - x0) * pixels_per_unit))
        h = int(round((y1 - y0) * pixels_per_unit))
        xs = x0 + (np.arange(w) + 0.5) / pixels_per_unit
        ys = y0 + (np.arange(h) + 0.5) / pixels_per_unit
        i = np.floor(xs / self.square_size).astype(int) + 1  # square column 0..cbcol
        j = np.floor(ys / self.square_size).astype(int) + 1
        inside_x = (i >= 0) & (i <= self.cbcol)
        inside_y = (j >= 0) & (j <= self.cbrow)
        black = ((i[None, :] + j[:, None]) % 2 == 0) & inside_x[None, :] & inside_y[:, None]
        return np.where(black, 0, 255).astype(np.uint8)

    def detect(self, gray: np.ndarray) -> Detection | None:
        img = _gray(gray)
        found, corners = cv2.findChessboardCorners(img, self.pattern_size, None)
        if not found or corners is None:
            return None
        corners = cv2.cornerSubPix(img, corners, (11, 11), (-1, -1), SUBPIX_CRITERIA)
        return Detection(np.arange(len(corners)), corners.reshape(-1, 2))

    def draw(self, image: np.ndarray, detection: Detection | None) -> np.ndarray:
        out = _color(image)
        if detection is not None:
            order = np.argsort(detection.ids)
            pts = detection.corners[order].astype(np.float32).reshape(-1, 1, 2)
            cv2.drawChessboardCorners(out, self.pattern_size, pts, True)
        return out


_DICTIONARIES = {
    name: getattr(cv2.aruco, name) for name in dir(cv2.aruco) if name.startswith("DICT_")
}


@dataclass(frozen=True)
class CharucoBoard:
    """A ChArUco board (``cv2.aruco.CharucoBoard``): ``squares_x × squares_y`` squares of
    ``square_length``, ArUco markers of ``marker_length`` from ``dictionary``; its corners
    are the ``(squares_x - 1) × (squares_y - 1)`` inner ones, found from the markers."""

    squares_x: int
    squares_y: int
    square_length: float
    marker_length: float
    dictionary: str = "DICT_4X4_50"
    legacy: bool = False
    min_detected: int = 6

    def __post_init__(self) -> None:
        if self.dictionary not in _DICTIONARIES:
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}")
        if self.squares_x < 3 or self.squares_y < 3:
            raise ValueError(
                "a ChArUco board needs 3 × 3 squares or more, "
                f"got {self.squares_x} × {self.squares_y}"
            )
        if not 0 < self.marker_length < self.square_length:
            raise ValueError(
                f"marker length {self.marker_length} must be positive and under the square length "
                f"{self.square_length}"
            )

    @property
    def square(self) -> float:
        return float(self.square_length)

    @property
    def cv_board(self) -> cv2.aruco.CharucoBoard:
        board = cv2.aruco.CharucoBoard(
            (self.squares_x, self.squares_y),
            float(self.square_length),
            float(self.marker_length),
            cv2.aruco.getPredefinedDictionary(_DICTIONARIES[self.dictionary]),
        )
        board.setLegacyPattern(self.legacy)
        return board

    @property
    def object_points(self) -> np.ndarray:
        return np.asarray(self.cv_board.getChessboardCorners(), dtype=np.float64).reshape(-1, 3)

    @property
    def symmetries(self) -> list[np.ndarray]:
        return []  # the markers name every corner

    @property
    def min_corners(self) -> int:
        return self.min_detected

    @property
    def extent(self) -> tuple[float, float, float, float]:
        s = self.square_length
        return (-s, -s, (self.squares_x + 1) * s, (self.squares_y + 1) * s)

    def texture(self, pixels_per_unit: float) -> np.ndarray:
        s = self.square_length
        side = int(round(s * pixels_per_unit))
        w, h = self.squares_x * side, self.squares_y * side
        img = self.cv_board.generateImage((w, h), marginSize=0, borderBits=1)
        return cv2.copyMakeBorder(img, side, side, side, side, cv2.BORDER_CONSTANT, value=255)

    def detect(self, gray: np.ndarray) -> Detection | None:
        img = _gray(gray)
        detector = cv2.aruco.CharucoDetector(self.cv_board)
        corners, ids, _, _ = detector.detectBoard(img)
        if ids is None or corners is None or len(ids) < self.min_detected:
            return None
        return Detection(ids.reshape(-1), corners.reshape(-1, 2))

    def draw(self, image: np.ndarray, detection: Detection | None) -> np.ndarray:
        out = _color(image)
        if detection is not None:
            cv2.aruco.drawDetectedCornersCharuco(
                out,
                detection.corners.astype(np.float32).reshape(-1, 1, 2),
                detection.ids.astype(np.int32).reshape(-1, 1),
                (0, 0, 255),
            )
        return out


def make_board(
    kind: str = "checkerboard",
    cbrow: int = 8,
    cbcol: int = 6,
    square_size: float | None = None,
    charuco: dict | None = None,
) -> Checkerboard | CharucoBoard:
    """The board of :func:`dlcflow.threed.calibrate.calibrate_cameras`' arguments:
    ``charuco`` holds ``squares_x, squares_y, square_length`` (else ``square_size`` or 1),
    ``marker_length`` (else 0.7 of the square) and ``dictionary``."""
    if kind == "checkerboard":
        return Checkerboard(cbrow=cbrow, cbcol=cbcol, square_size=float(square_size or 1.0))
    if kind == "charuco":
        params = dict(charuco or {})
        try:
            sx, sy = int(params.pop("squares_x")), int(params.pop("squares_y"))
        except KeyError:
            raise ValueError("a ChArUco board needs squares_x and squares_y") from None
        length = float(params.pop("square_length", square_size or 1.0))
        marker = float(params.pop("marker_length", 0.7 * length))
        return CharucoBoard(sx, sy, length, marker, **params)
    raise ValueError(f"unknown board {kind!r} (checkerboard or charuco)")
