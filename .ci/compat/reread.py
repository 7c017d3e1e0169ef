"""Read the tables that pandas 2 wrote (``check.py``) back with dlcflow's reader, here in
dlcflow's environment, and compare them with what was expected.

Usage: python reread.py REWRITTEN EXPECTED.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tables_io import describe

from dlcflow.io.hdf import read_frame


def main(folder: Path, expected_file: Path) -> None:
    expected = {k: v for k, v in json.loads(expected_file.read_text()).items() if k.endswith(".h5")}
    problems = []
    for name, table in expected.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: not rewritten by pandas 2")
        elif describe(read_frame(path)) != table:
            problems.append(f"{name}: as written by pandas 2, reads differently here")
    n_read = len(expected) - len(problems)
    print(f"reread: {n_read} of {len(expected)} pandas 2 h5 tables read back")
    for line in problems:
        print(f"reread: {line}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
