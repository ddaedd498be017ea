"""Tiny real Kaggle-style competition folders: PNG and JPEG files, CSVs, in either train/ layout; and a
multi-label one in Planet's shape."""

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def _image(label: int, rng: np.random.Generator, size: int) -> Image.Image:
    """A learnable picture: class 0 is reddish, class 1 bluish, with noise."""
    base = np.array([200, 40, 40] if label == 0 else [40, 40, 200], dtype=np.float32)
    pixels = base + rng.normal(0, 30, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_competition(
    root: Path, layout: str = "folders", n_train: int = 24, n_test: int = 10, seed: int = 0
) -> Path:
    """A Kaggle-style folder of real PNG and JPEG files: train/ in `layout`, test/, CSVs."""
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog"]
    for i in range(n_train):
        label = i % 2
        name = f"{classes[label]}.{i}.{'jpg' if i % 3 else 'png'}"
        folder = root / "train" / classes[label] if layout == "folders" else root / "train"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name if layout == "flat" else f"{i}{Path(name).suffix}")
        _image(label, rng, 24 + i % 7).save(path)
    (root / "test").mkdir(parents=True)
    solution = []
    for i in range(1, n_test + 1):
        label = i % 2
        image = _image(label, rng, 30)
        image = image.convert("L") if i == 1 else image  # one greyscale image: decoded to RGB
        image.save(root / "test" / f"{i}.{'jpg' if i % 2 else 'png'}")
        solution.append((str(i), classes[label], "Public" if i % 2 else "Private"))
    # Kaggle lists ids in its own order: deliberately not sorted.
    ids = [row[0] for row in reversed(solution)]
    with (root / "sample_submission.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label")] + [(i, "cat") for i in ids])
    with (root / "solution.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label", "Usage")] + solution)
    return root


TAGS = ("red", "green", "blue")


def _picture(tags: set[str], rng: np.random.Generator):
    """Each tag lights its own channel: learnable in a few epochs at 20 px."""
    from PIL import Image

    base = np.array([200 if t in tags else 30 for t in TAGS], dtype=np.float32)
    pixels = base + rng.normal(0, 20, (24, 24, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_tagged(root, n_train: int = 36, n_test: int = 12):
    """A Planet-shaped folder: train_v2.csv (image_name, tags), train-jpg/, test-jpg/, the sample, the
    solution in Kaggle's shape (the tags and Usage)."""
    rng = np.random.default_rng(0)
    combos = [{"red"}, {"green"}, {"blue"}, {"red", "green"}, {"green", "blue"}, {"red", "blue"}]
    (root / "train-jpg").mkdir(parents=True)
    (root / "test-jpg").mkdir()
    with (root / "train_v2.csv").open("w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow(["image_name", "tags"])
        for i in range(n_train):
            tags = combos[i % len(combos)]
            _picture(tags, rng).save(root / "train-jpg" / f"train_{i}.png")
            rows.writerow([f"train_{i}", " ".join(sorted(tags))])
    sample, solution = [["image_name", "tags"]], [["image_name", "tags", "Usage"]]
    for i in range(n_test):
        tags = combos[(i * 5) % len(combos)]
        _picture(tags, rng).save(root / "test-jpg" / f"test_{i}.png")
        sample.append([f"test_{i}", "red green"])
        solution.append([f"test_{i}", " ".join(sorted(tags)), "Public" if i % 2 else "Private"])
    for name, rows_ in (("sample_submission_v2.csv", sample), ("solution.csv", solution)):
        with (root / name).open("w", newline="") as f:
            csv.writer(f).writerows(rows_)
    return root


def tagged_overrides(root: Path, tmp_path: Path, store: str) -> list[str]:
    """A fast multi-label job (mean F2, tuned thresholds) on make_tagged's folder, tracked in `store`."""
    from helpers import TINY_MODEL

    return [
        "data=kaggle",
        f"data.root={root}",
        "data.task=multilabel",
        "data.metric=mean_f2",
        f"data.cache_dir={tmp_path / 'cache'}",
        *TINY_MODEL,
        "trainer.epochs=3",
        "trainer.batch_size=8",
        "trainer.progress=false",
        "optimizer.lr=3e-3",
        f"tracking.uri={store}",
    ]
