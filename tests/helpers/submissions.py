"""Models out in tests: submissions compared value by value, `sweeplab predict` run as the user runs it,
and a bundle's predict.py where sweeplab and MLflow cannot be imported."""

import csv
import importlib.util
import os
from pathlib import Path

import pytest

from sweeplab.cli import main as sweeplab
from sweeplab.offline import natural_key

TOLERANCE = 1e-6  # the values are written with ten significant digits


def rows_of(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def assert_same_submission(got: Path, expected: Path, ordered: bool = True) -> None:
    """Same header, ids (in order, unless not `ordered`) and values: numbers to TOLERANCE, labels exactly."""
    (got_header, got_rows), (header, rows) = rows_of(got), rows_of(expected)
    assert got_header == header
    if not ordered:
        got_rows, rows = (sorted(r, key=lambda row: natural_key(row[0])) for r in (got_rows, rows))
    assert [r[0] for r in got_rows] == [r[0] for r in rows]
    for got_row, row in zip(got_rows, rows, strict=True):
        for value, want in zip(got_row[1:], row[1:], strict=True):
            try:
                assert float(value) == pytest.approx(float(want), abs=TOLERANCE)
            except ValueError:
                assert value == want


def predicted(model: str, images: Path, out: Path, store: str, *extra: str) -> Path:
    """`sweeplab predict MODEL --images IMAGES --out OUT`: a run id (a prefix will do) or models:/ URI."""
    args = ["predict", model, "--images", str(images), "--out", str(out), "--tracking-uri", store]
    assert sweeplab([*args, *extra]) == 0
    return out


def stubbed_env(tmp_path: Path) -> dict[str, str]:
    """An environment where `import sweeplab` and `import mlflow` fail, as on a Kaggle notebook, while
    torch, numpy and pillow import from this venv. (Not `python -I`: it would drop PYTHONPATH, and the
    venv's editable sweeplab would import.)"""
    stubs = tmp_path / "stubs"
    for name in ("sweeplab", "mlflow"):
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(f"raise ImportError('no {name} on a Kaggle notebook')\n")
    return {**os.environ, "PYTHONPATH": str(stubs)}


def bundle_script(bundle: Path):
    """A bundle's predict.py imported as a module (it reads the files beside it)."""
    spec = importlib.util.spec_from_file_location("predict_py", bundle / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
