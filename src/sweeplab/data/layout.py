"""What a competition folder holds: its root CSVs by role and its image folders, each listed once."""

import os
import re
from functools import cached_property
from pathlib import Path

from sweeplab.errors import ConfigError
from sweeplab.offline import is_image_name, natural_key

EXPECTED_LAYOUT = (
    "expected a competition folder with train/ (one sub-folder per class, or files named "
    "LABEL.N.jpg such as cat.123.jpg) or a labels CSV at its root (an id column naming the images "
    "of one folder, and the labels), test images (test/, or the ids sample_submission.csv or "
    "test.csv lists) and optionally sample_submission.csv and solution.csv"
)
MATCH_SHARE = 0.5  # a column names a folder's images when more than half of its sampled ids are there


def is_test_like(name: str) -> bool:
    """test/, test-jpg/, test_images/, stage1_test/: folders whose name says they hold the test images
    ("test" as a word of the name: not contest/ or latest/)."""
    return bool(_TEST_WORD.search(name.lower()))


def _listed(path: Path) -> tuple[list[str], list[str]]:
    """(sub-folder names, file names) of one folder, in one os.scandir pass (no stat per file); hidden
    entries and macOS archives' __MACOSX left out."""
    folders, files = [], []
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.name == "__MACOSX":
                continue
            if entry.is_dir():
                folders.append(entry.name)
            elif entry.is_file():
                files.append(entry.name)
    return folders, files


_TEST_WORD = re.compile(r"(^|[^a-z])test")


def _plain(name: str) -> str:
    """sample_submission.csv, sampleSubmission.csv and sample-submission.csv alike."""
    return name.lower().replace("_", "").replace("-", "")


class ImageFolder:
    """One folder's image files and sub-folders, listed once (os.scandir: no stat per file)."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name  # name: relative to the competition, for messages ("train/")
        subfolders, files = _listed(path)
        images = [f for f in files if is_image_name(f)]
        self.images, self.subfolders = sorted(images), sorted(subfolders)

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(self.images)

    @cached_property
    def stems(self) -> dict[str, str]:
        stems: dict[str, str] = {}
        for name in self.images:
            stems.setdefault(os.path.splitext(name)[0], name)
        return stems

    def resolve(self, image_id: str, suffix: str | None = None) -> str | None:
        """The file an id names: with the suffix key appended, as written, or without its extension."""
        if suffix and image_id + suffix in self.names:
            return image_id + suffix
        if image_id in self.names:
            return image_id
        return self.stems.get(image_id)

    def share(self, ids: list[str], suffix: str | None = None) -> float:
        """The share of ids naming an image here."""
        return sum(self.resolve(i, suffix) is not None for i in ids) / len(ids) if ids else 0.0


class Layout:
    """The root listed once: its CSV files and its folders (each scanned on first use)."""

    def __init__(self, root: Path):
        self.root = root
        dirs, files = _listed(root)
        csvs = [f for f in files if f.lower().endswith(".csv")]
        self.csvs, self.dirs = sorted(csvs, key=natural_key), sorted(dirs)
        self._folders: dict[str, ImageFolder] = {}

    def folder(self, relative: str) -> ImageFolder:
        relative = relative.strip("/") or "."
        if relative not in self._folders:
            name = "./" if relative == "." else relative + "/"
            self._folders[relative] = ImageFolder(self.root / relative, name)
        return self._folders[relative]

    def keyed_folder(self, key: str, value: str) -> ImageFolder:
        """The folder a data.train_dir/data.test_dir key names."""
        if not (self.root / value).is_dir():
            raise ConfigError(
                f"data.{key}={value}: {self.root / value} is not a folder; its folders: "
                f"{', '.join(self.dirs) or 'none'}"
            )
        return self.folder(value)

    def image_folders(self) -> list[ImageFolder]:
        """The root's folders that hold image files directly (not class folders)."""
        return [f for f in (self.folder(d) for d in self.dirs) if f.images]

    @property
    def sample(self) -> Path | None:
        """sample_submission*.csv; of several (Planet's _v2), the last in natural order."""
        names = [n for n in self.csvs if _plain(n).startswith("samplesubmission")]
        return self.root / names[-1] if names else None

    @property
    def test_csv(self) -> Path | None:
        names = [n for n in self.csvs if n.lower() == "test.csv"]
        return self.root / names[0] if names else None

    @property
    def label_candidates(self) -> list[str]:
        """Root CSVs that may hold the labels: not the sample, the solution or a test listing."""
        skip = ("samplesubmission", "solution", "test")
        return [n for n in self.csvs if not _plain(n).startswith(skip)]
