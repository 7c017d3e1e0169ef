"""The HDF5 container of DLC's pose tables: keys, a key-agnostic reader, a writer that
pandas 2 and pandas 3 both read.

DLC writes its tables with ``DataFrame.to_hdf`` under the key ``df_with_missing`` (its
napari labeler uses ``keypoints``, stitched tracks ``tracks``, older files ``df``), and its
readers call ``pd.read_hdf(path)`` with no key. Annotations are pandas "fixed" format;
analysis outputs are "table" format.

pandas 3 no longer stamps a table with the ``pandas_version`` attribute. pandas 2 reads a
table without it as a pre-0.10.1 file, looks up its data blocks under their old names and
fails (``AttributeError: 'NoneType' object has no attribute 'startswith'``), which breaks
every DLC tool in a pandas 2 environment. :func:`write_frame` puts back the stamp pandas 2
writes (the table layout itself is unchanged since pandas 0.15.2), so the file reads the
same in pandas 2 and 3.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dlcflow.core.fileio import atomic_path

__all__ = ["HDF_KEY", "KNOWN_KEYS", "FormatError", "read_frame", "write_frame", "write_frame_to"]

#: DLC's key for every table it writes.
HDF_KEY = "df_with_missing"
#: Keys of DLC's tables in the order a reader prefers them when a file holds several.
KNOWN_KEYS = (HDF_KEY, "keypoints", "tracks", "df")
#: The table-format version pandas 2 writes and expects (unchanged since pandas 0.15.2).
TABLE_VERSION = "0.15.2"


class FormatError(ValueError):
    """A file that is not the table it should be; the one-line message names file and cause."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def write_frame_to(df: pd.DataFrame, path: Path, *, table: bool, key: str = HDF_KEY) -> None:
    """Write ``df`` into the HDF5 file ``path`` (replaced), readable by pandas 2 and 3.

    Not atomic: callers write to a temp path (:func:`write_frame` does).
    """
    df.to_hdf(path, key=key, mode="w", format="table" if table else "fixed")
    if table:
        with pd.HDFStore(path, mode="a") as store:
            attrs = store.get_storer(key).attrs
            if getattr(attrs, "pandas_version", None) is None:
                attrs.pandas_version = TABLE_VERSION


def write_frame(
    df: pd.DataFrame, path: str | os.PathLike[str], *, table: bool, key: str = HDF_KEY
) -> None:
    """Write ``df`` to ``path`` atomically (a temp file beside it, then a rename).

    ``table=True`` is pandas' table format (DLC's analysis outputs), else fixed format
    (DLC's annotations, whose string row index the table format cannot store).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        write_frame_to(df, tmp, table=table, key=key)


def read_frame(
    path: str | os.PathLike[str],
    preferred: Sequence[str] = KNOWN_KEYS,
    error: type[Exception] = FormatError,
) -> pd.DataFrame:
    """The table of a DLC h5 file, whatever its key.

    A file with one table gives that table; with several, the first key of ``preferred``
    it holds. Anything else raises ``error`` with a one-line message naming the file.
    """
    p = Path(path)
    try:
        with pd.HDFStore(p, mode="r") as store:
            keys = [k.lstrip("/") for k in store.keys()]  # noqa: SIM118 (not a dict)
            if not keys:
                raise error(f"{p}: the HDF5 file holds no table")
            if len(keys) == 1:
                key = keys[0]
            else:
                known = [k for k in preferred if k in keys]
                if not known:
                    raise error(
                        f"{p}: several tables ({', '.join(keys)}) and none is '{preferred[0]}'"
                    )
                key = known[0]
            df = store.get(key)
    except error:
        raise
    except Exception as err:  # PyTables and HDF5 raise many error types
        raise error(f"{p}: not a readable h5 table ({first_line(err)})") from None
    if not isinstance(df, pd.DataFrame):
        raise error(f"{p}: holds a {type(df).__name__}, not a table")
    return df
