"""How long discovery takes on a large labels CSV: a 25,000-row `train.csv` (Aerial Cactus has 17,500
rows, Histopathologic 220,025) over 25,000 empty image files, read by `read_competition` (the folder is
listed once, no stat per row, nothing decoded). Goal: well under a second (the better of three reads).

    python bench/discovery.py [--rows 25000]
"""

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

from sweeplab.data.competition import read_competition


def write_competition(root: Path, rows: int) -> None:
    """train/ with `rows` empty .jpg files named as Aerial Cactus names them, a labels CSV, 100 test files."""
    (root / "train").mkdir()
    (root / "test").mkdir()
    names = [f"{i:08x}e5c2.jpg" for i in range(rows)]
    for name in names:  # empty files: discovery lists names, it decodes nothing
        os.close(os.open(root / "train" / name, os.O_CREAT | os.O_WRONLY))
    for i in range(100):
        os.close(os.open(root / "test" / f"t{i}.jpg", os.O_CREAT | os.O_WRONLY))
    with (root / "train.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("id", "has_cactus"), *((n, i % 2) for i, n in enumerate(names))])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=25_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_competition(Path(tmp), args.rows)
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            competition = read_competition(Path(tmp))
            seconds.append(time.perf_counter() - start)
    assert len(competition.train_files) == args.rows and competition.train_labels.sum() == args.rows // 2
    print(
        f"read_competition on a {args.rows}-row labels CSV: best {min(seconds):.2f} s of 3 "
        f"({', '.join(f'{s:.2f}' for s in seconds)})"
    )
    print(f"goal: < 1 s: {'met' if min(seconds) < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
