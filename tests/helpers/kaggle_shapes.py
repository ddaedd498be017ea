"""Small competitions in the exact shapes of real Kaggle image competitions, made of real photographs.

Each `build_<shape>(root, size)` writes what Kaggle hands out (a labels CSV, the image folders, a sample
submission, test.csv where the competition has one) and `solution.csv` as Kaggle keeps it: the
submission's columns holding the truth, plus `Usage` (Public/Private). The images are the 300 real
photographs of cats-dogs-mini (species known from the file names and its solution.csv), resized to
`size` px and saved under the names the competition uses (hashed ids, Train_N, train_N, ...).

The labels must be learnable by the seed CNN at 32 px in a few epochs, so that "beats a constant
submission" is reliable: each label follows the species and a strong property imposed on the photo (a
colour tint, a colour per channel, a stripe, a centre patch, a brightness level). Horizontal flips are
never a cue: augmentation may flip. Every class has >= 8 training images and appears among the Public
and the Private test rows (checked, with the learnability, in
tests/integration/test_kaggle_shapes.py).
"""

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from helpers import CATS_DOGS

SEED = 21
N_TRAIN = 200  # of the 300 photographs; the other 100 are the test images, as in cats-dogs-mini
TRAIN, TEST = slice(0, N_TRAIN), slice(N_TRAIN, None)
# A tint's share of each pixel: at 0.55 the photo still shows through, and the seed CNN at 32 px tells
# the tints apart on >= 95% of the test images after 3-4 epochs of batch 8.
ALPHA = 0.55
RED, GREEN, BLUE = (210, 30, 30), (20, 170, 40), (30, 60, 220)
YELLOW, MAGENTA, SAND = (230, 210, 20), (200, 20, 200), (200, 160, 100)

BREED_OF = {0: ("pug", "basenji"), 1: ("whippet", "chow", "beagle")}  # cats, dogs: cycled in turn
BREED_TINT = {"pug": RED, "basenji": GREEN, "whippet": BLUE, "chow": YELLOW, "beagle": MAGENTA}
BREEDS = tuple(sorted(BREED_TINT))
PLANT_OF = {0: ("healthy", "healthy", "healthy", "multiple_diseases"), 1: ("rust", "scab")}
PLANT_TINT = {"healthy": GREEN, "multiple_diseases": MAGENTA, "rust": RED, "scab": BLUE}
PLANT_COLUMNS = ("healthy", "multiple_diseases", "rust", "scab")  # Plant Pathology 2020's order
PLANET_TAGS = ("agriculture", "clear", "haze", "primary", "road", "water")
GRADES = (0, 1, 2, 3, 4)
# APTOS is skewed towards grade 0 (49% of its images): the photo's brightness quantile picks the grade.
GRADE_QUANTILES = (0.45, 0.60, 0.78, 0.90)
GRADE_LEVEL = (40, 75, 110, 145, 180)  # each grade's mean luminance, imposed: an ordinal, visible cue
WHALE_OF = {
    0: ("new_whale", "w_3d5c1f2", "new_whale", "w_a7e90b4"),
    1: ("w_0c81f6d", "w_e2b4a93", "w_5f07c2e"),
}
# new_whale has no tint: its photos are grey.
WHALE_TINT = {
    "w_3d5c1f2": RED,
    "w_a7e90b4": GREEN,
    "w_0c81f6d": BLUE,
    "w_e2b4a93": YELLOW,
    "w_5f07c2e": MAGENTA,
}
WHALES = ("new_whale", *sorted(WHALE_TINT))


@functools.cache
def _photos(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The 300 photographs as float32 (N, size, size, 3) and their species (0 cat, 1 dog), in one
    seeded shuffled order (read once per size and process: every builder draws on them)."""
    solution = pd.read_csv(CATS_DOGS / "solution.csv", dtype=str)
    files = sorted((CATS_DOGS / "train").glob("*.jpg"))
    species = [f.name.split(".")[0] for f in files]
    files += [CATS_DOGS / "test" / f"{i}.jpg" for i in solution["id"]]
    species += list(solution["label"])
    order = np.random.default_rng(SEED).permutation(len(files))
    pixels = np.stack([_load(files[i], size) for i in order])
    pixels.flags.writeable = False
    dogs = np.array([species[i] == "dog" for i in order], dtype=np.int64)
    return pixels, dogs


def _load(path: Path, size: int) -> np.ndarray:
    """A photograph centre-cropped to a square and resized to size px (the species stays in view)."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def _tint(pixels: np.ndarray, rgb, alpha: float = ALPHA) -> np.ndarray:
    return (1 - alpha) * pixels + alpha * np.asarray(rgb, dtype=np.float32)


def _luminance(pixels: np.ndarray) -> np.ndarray:
    """(..., H, W, 1): the photo in grey."""
    return (pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]


def _tinted(pixels: np.ndarray, labels, tints: dict) -> np.ndarray:
    """Each photo tinted with its label's colour; a label without a colour turns the photo grey."""
    grey = np.repeat(_luminance(pixels), 3, axis=-1)
    pairs = zip(pixels, grey, labels, strict=True)
    return np.stack([_tint(p, tints[x]) if x in tints else g for p, g, x in pairs])


def _cycle(dogs: np.ndarray, choices: dict) -> np.ndarray:
    """Labels from the species: the k-th cat gets choices[0][k % len], the k-th dog choices[1][k % len]."""
    seen = [0, 0]
    labels = []
    for species in dogs:
        labels.append(choices[species][seen[species] % len(choices[species])])
        seen[species] += 1
    return np.array(labels, dtype=object)


def _hex(shape: str, i: int, length: int) -> str:
    """A hashed image id as Kaggle's are (md5/sha1 hex digits), stable across runs."""
    return hashlib.sha1(f"{shape}-{i}".encode()).hexdigest()[:length]


def _save(pixels: np.ndarray, names, folder: Path) -> None:
    """Each image under its name; the suffix picks the format (JPEG, PNG, TIFF)."""
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(pixels, names, strict=True):
        Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8)).save(folder / name)


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def _write_solution(sample_truth: pd.DataFrame, root: Path) -> None:
    """solution.csv as Kaggle keeps it: the submission's columns with the truth, then Usage (a seeded
    half of the rows Public); its rows sorted by id, not in the sample's order, as a scorer must cope."""
    public = np.random.default_rng(SEED).permutation(len(sample_truth)) < len(sample_truth) // 2
    solution = sample_truth.assign(Usage=np.where(public, "Public", "Private"))
    _write(solution.sort_values(solution.columns[0], kind="stable"), root / "solution.csv")


def _one_hot(labels, columns) -> dict:
    return {c: (np.asarray(labels) == c).astype(np.int64) for c in columns}


def build_aerial_cactus(root: Path, size: int = 48) -> Path:
    """Aerial Cactus Identification: train.csv `id,has_cactus` whose ids are the hashed file names
    (with .jpg), flat train/ and test/, a probability submission (sample: 0.5), ROC AUC.
    has_cactus: the dogs, tinted green; the cats are tinted sand."""
    pixels, dogs = _photos(size)
    images = np.where(dogs[:, None, None, None] == 1, _tint(pixels, GREEN), _tint(pixels, SAND))
    ids = np.array([f"{_hex('cactus', i, 32)}.jpg" for i in range(len(dogs))], dtype=object)
    _save(images[TRAIN], ids[TRAIN], root / "train")
    _save(images[TEST], ids[TEST], root / "test")
    _write(pd.DataFrame({"id": ids[TRAIN], "has_cactus": dogs[TRAIN]}), root / "train.csv")
    _write(pd.DataFrame({"id": ids[TEST], "has_cactus": 0.5}), root / "sample_submission.csv")
    _write_solution(pd.DataFrame({"id": ids[TEST], "has_cactus": dogs[TEST]}), root)
    return root


def build_dog_breed(root: Path, size: int = 48) -> Path:
    """Dog Breed Identification: labels.csv `id,breed` (ids without extension), train/<id>.jpg, test/,
    a submission of one probability column per breed in alphabetical order (sample: 1/K), log loss.
    breed: the cats cycle through two breeds, the dogs through three; each breed has its own tint."""
    pixels, dogs = _photos(size)
    breeds = _cycle(dogs, BREED_OF)
    images = _tinted(pixels, breeds, BREED_TINT)
    ids = np.array([_hex("breed", i, 32) for i in range(len(dogs))], dtype=object)
    _save(images[TRAIN], [f"{i}.jpg" for i in ids[TRAIN]], root / "train")
    _save(images[TEST], [f"{i}.jpg" for i in ids[TEST]], root / "test")
    _write(pd.DataFrame({"id": ids[TRAIN], "breed": breeds[TRAIN]}), root / "labels.csv")
    sample = pd.DataFrame({"id": ids[TEST], **dict.fromkeys(BREEDS, 1 / len(BREEDS))})
    _write(sample, root / "sample_submission.csv")
    _write_solution(pd.DataFrame({"id": ids[TEST], **_one_hot(breeds[TEST], BREEDS)}), root)
    return root


def build_plant_pathology(root: Path, size: int = 48) -> Path:
    """Plant Pathology 2020: train.csv `image_id` + one-hot `healthy,multiple_diseases,rust,scab`,
    test.csv `image_id`, one images/ folder of Train_N.jpg and Test_N.jpg, a submission of the four
    probability columns (sample: 0.25), mean column-wise ROC AUC.
    The cats are healthy, one in four multiple_diseases (rare, as in the competition); the dogs
    alternate rust and scab; each class has its own tint."""
    pixels, dogs = _photos(size)
    plants = _cycle(dogs, PLANT_OF)
    images = _tinted(pixels, plants, PLANT_TINT)
    train_ids = np.array([f"Train_{i}" for i in range(N_TRAIN)], dtype=object)
    test_ids = np.array([f"Test_{i}" for i in range(len(dogs) - N_TRAIN)], dtype=object)
    _save(images[TRAIN], [f"{i}.jpg" for i in train_ids], root / "images")
    _save(images[TEST], [f"{i}.jpg" for i in test_ids], root / "images")
    train = pd.DataFrame({"image_id": train_ids, **_one_hot(plants[TRAIN], PLANT_COLUMNS)})
    _write(train, root / "train.csv")
    _write(pd.DataFrame({"image_id": test_ids}), root / "test.csv")
    sample = pd.DataFrame({"image_id": test_ids, **dict.fromkeys(PLANT_COLUMNS, 0.25)})
    _write(sample, root / "sample_submission.csv")
    _write_solution(pd.DataFrame({"image_id": test_ids, **_one_hot(plants[TEST], PLANT_COLUMNS)}), root)
    return root


def _planet_tags(dogs: np.ndarray) -> dict[str, np.ndarray]:
    """Each image's tags (bool per tag): primary (forest) on the dogs, one weather tag each, the rest
    drawn independently, about a third of the images each."""
    rng = np.random.default_rng(SEED)
    n = len(dogs)
    haze = rng.random(n) < 0.3
    draws = {tag: rng.random(n) < 0.33 for tag in ("agriculture", "road", "water")}
    return {"clear": ~haze, "haze": haze, "primary": dogs == 1, **draws}


def _planet_images(pixels: np.ndarray, tags: dict[str, np.ndarray]) -> np.ndarray:
    """The photo in grey; agriculture lifts its red channel, primary its green, water its blue; road
    draws a pale stripe across the middle; haze veils it all in light grey."""
    channels = np.stack([tags[t] for t in ("agriculture", "primary", "water")], axis=1)
    images = _luminance(pixels) * (0.35 + 0.65 * channels[:, None, None, :])
    size = pixels.shape[1]
    road = np.zeros(images.shape[:3] + (1,), dtype=bool)
    road[:, size * 7 // 16 : size * 9 // 16 + 1] = True  # 1/8 of the height: 4 rows at 32 px
    images = np.where(road & tags["road"][:, None, None, None], 235.0, images)
    return np.where(tags["haze"][:, None, None, None], _tint(images, (200, 200, 200)), images)


def build_planet(root: Path, size: int = 48) -> Path:
    """Planet: Understanding the Amazon from Space: train_v2.csv `image_name,tags` (names without
    extension, space-separated tags), train-jpg/ and test-jpg/ of train_N.jpg and test_N.jpg, a tags
    submission (sample_submission_v2.csv), mean F2 over images (data.task=multilabel)."""
    pixels, dogs = _photos(size)
    tags = _planet_tags(dogs)
    images = _planet_images(pixels, tags)
    strings = np.array([" ".join(t for t in PLANET_TAGS if tags[t][i]) for i in range(len(dogs))])
    train_ids = np.array([f"train_{i}" for i in range(N_TRAIN)], dtype=object)
    test_ids = np.array([f"test_{i}" for i in range(len(dogs) - N_TRAIN)], dtype=object)
    _save(images[TRAIN], [f"{i}.jpg" for i in train_ids], root / "train-jpg")
    _save(images[TEST], [f"{i}.jpg" for i in test_ids], root / "test-jpg")
    _write(pd.DataFrame({"image_name": train_ids, "tags": strings[TRAIN]}), root / "train_v2.csv")
    # Kaggle's sample: the same five tags on every row.
    sample = pd.DataFrame({"image_name": test_ids, "tags": "primary clear agriculture road water"})
    _write(sample, root / "sample_submission_v2.csv")
    _write_solution(pd.DataFrame({"image_name": test_ids, "tags": strings[TEST]}), root)
    return root


def _fundus(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grades 0-4 from each photo's brightness quantile, and the photos made orange like a retina
    with their mean brightness set to their grade's level (half the photo's contrast kept)."""
    grey = _luminance(pixels)
    brightness = grey.mean(axis=(1, 2, 3))
    grades = np.searchsorted(np.quantile(brightness, GRADE_QUANTILES), brightness, side="right")
    level = np.asarray(GRADE_LEVEL, dtype=np.float32)[grades][:, None, None, None]
    images = (0.5 * (grey - brightness[:, None, None, None]) + level) * np.array([1.2, 0.8, 0.45])
    return grades.astype(np.int64), images


def build_aptos(root: Path, size: int = 48) -> Path:
    """APTOS 2019 Blindness Detection: train.csv `id_code,diagnosis` (grades 0-4), test.csv `id_code`,
    train_images/<id_code>.png and test_images/ (PNG), a label submission (sample: 0), quadratic
    weighted kappa. diagnosis: the photo's brightness quantile, its brightness then set per grade."""
    pixels, _ = _photos(size)
    grades, images = _fundus(pixels)
    ids = np.array([_hex("aptos", i, 12) for i in range(len(grades))], dtype=object)
    _save(images[TRAIN], [f"{i}.png" for i in ids[TRAIN]], root / "train_images")
    _save(images[TEST], [f"{i}.png" for i in ids[TEST]], root / "test_images")
    _write(pd.DataFrame({"id_code": ids[TRAIN], "diagnosis": grades[TRAIN]}), root / "train.csv")
    _write(pd.DataFrame({"id_code": ids[TEST]}), root / "test.csv")
    _write(pd.DataFrame({"id_code": ids[TEST], "diagnosis": 0}), root / "sample_submission.csv")
    _write_solution(pd.DataFrame({"id_code": ids[TEST], "diagnosis": grades[TEST]}), root)
    return root


def build_histopathologic(root: Path, size: int = 48) -> Path:
    """Histopathologic Cancer Detection: train_labels.csv `id,label` (ids without extension),
    train/<id>.tif and test/<id>.tif (TIFF), a probability submission (sample: 0), ROC AUC.
    label: the dogs, with a dark purple patch over the centre third (the competition labels a patch by
    its centre); every photo has the pink of an H&E stain."""
    pixels, dogs = _photos(size)
    images = _tint(pixels, (230, 150, 200), 0.4)
    centre = slice(size // 3, size - size // 3)
    patched = images.copy()
    patched[:, centre, centre] = _tint(images[:, centre, centre], (80, 20, 110), 0.8)
    images = np.where(dogs[:, None, None, None] == 1, patched, images)
    ids = np.array([_hex("histo", i, 40) for i in range(len(dogs))], dtype=object)
    _save(images[TRAIN], [f"{i}.tif" for i in ids[TRAIN]], root / "train")
    _save(images[TEST], [f"{i}.tif" for i in ids[TEST]], root / "test")
    _write(pd.DataFrame({"id": ids[TRAIN], "label": dogs[TRAIN]}), root / "train_labels.csv")
    _write(pd.DataFrame({"id": ids[TEST], "label": 0}), root / "sample_submission.csv")
    _write_solution(pd.DataFrame({"id": ids[TEST], "label": dogs[TEST]}), root)
    return root


def build_humpback(root: Path, size: int = 48) -> Path:
    """Humpback Whale Identification: train.csv `Image,Id` (file names with .jpg), train/, test/, a
    submission of 5 space-separated Ids per image, MAP@5.
    Id: half the cats are new_whale (the largest class, as in the competition), shown in grey; the
    other cats cycle through two whales, the dogs through three; each whale has its own tint."""
    pixels, dogs = _photos(size)
    whales = _cycle(dogs, WHALE_OF)
    images = _tinted(pixels, whales, WHALE_TINT)
    ids = np.array([f"{_hex('whale', i, 9)}.jpg" for i in range(len(dogs))], dtype=object)
    _save(images[TRAIN], ids[TRAIN], root / "train")
    _save(images[TEST], ids[TEST], root / "test")
    _write(pd.DataFrame({"Image": ids[TRAIN], "Id": whales[TRAIN]}), root / "train.csv")
    sample = pd.DataFrame({"Image": ids[TEST], "Id": " ".join(WHALES[:5])})
    _write(sample, root / "sample_submission.csv")
    _write_solution(pd.DataFrame({"Image": ids[TEST], "Id": whales[TEST]}), root)
    return root


@dataclass(frozen=True)
class Shape:
    """One competition shape: how to build it and what its submission must hold."""

    build: Callable[[Path, int], Path]
    metric: str
    kind: str  # the submission's values: probability | probabilities | tags | label | top_k
    labels_csv: str = "train.csv"
    sample: str = "sample_submission.csv"
    values: tuple[str, ...] = ()  # the labels a tags, label or top_k submission may write
    overrides: tuple[str, ...] = ()  # besides data.root and data.metric


SHAPES = {
    "aerial_cactus": Shape(build_aerial_cactus, "roc_auc", "probability"),
    "dog_breed": Shape(build_dog_breed, "log_loss", "probabilities", "labels.csv"),
    "plant_pathology": Shape(build_plant_pathology, "mean_columnwise_roc_auc", "probabilities"),
    "planet": Shape(
        build_planet,
        "mean_f2",
        "tags",
        "train_v2.csv",
        "sample_submission_v2.csv",
        PLANET_TAGS,  # read as tags by data.task=auto: no key needed
    ),
    "aptos": Shape(build_aptos, "quadratic_weighted_kappa", "label", values=tuple(map(str, GRADES))),
    "histopathologic": Shape(build_histopathologic, "roc_auc", "probability", "train_labels.csv"),
    "humpback": Shape(build_humpback, "map_at_k", "top_k", values=WHALES),
}
