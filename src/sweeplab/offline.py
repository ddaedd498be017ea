"""What a Kaggle notebook without internet runs to predict with a sweeplab model, and the same rules that
sweeplab itself follows: decoding, the natural order of file names, preprocessing and TTA, prediction,
mixing an ensemble, and the values a submission holds. Run as a script, it is a bundle's predict.py:

    python predict.py --images /kaggle/input/COMP/test --out submission.csv [--sample sample_submission.csv]

`sweeplab export` ships this file as predict.py beside model.pt2 (an ensemble's bundle: model_0.pt2, ...,
one program per member run, each at its own image size) and bundle.json (the parts, the classes, the
thresholds, the submission's format, every program's SHA-256). It imports nothing from sweeplab and needs
torch, numpy and pillow only, which a Kaggle notebook has. sweeplab imports it for the same rules (its
image cache decodes with `decode`, `sweeplab predict` and the MLflow model predict with `predict_parts`,
every submission's values are `submission_values`), so the bundle cannot drift from sweeplab: there is
no second copy to keep in step.
"""

import argparse
import contextlib
import csv
import hashlib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# Ten significant digits: rescoring the written file reproduces the score of the probabilities to ~1e-9.
FLOAT_FORMAT = "{:.10g}"
DEFAULT_THRESHOLD = 0.5  # a multi-label tag's, where no tuned thresholds are given
SAMPLE_VALUES = 100  # rows of the sample's first value column kept: labels written as indices? probabilities?
# 64 images a batch: 38 MB of uint8 at 444 px (150 MB as floats), small beside any GPU's memory, and
# enough images for the decoding threads to work on while the model runs.
BATCH_SIZE = 64
SHOWN = 5  # ids or files named in a message
_INTEGER = re.compile(r"[+-]?\d+")

Stats = tuple[list[float], list[float]]  # per-channel mean and std on the 0..1 scale


class OfflineError(Exception):
    """A problem the user can fix: printed as one line, and nothing is written."""


# File names


def natural_key(text: str) -> tuple:
    """Sort key putting 2.jpg before 10.jpg."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def is_image_name(name: str) -> bool:
    """A file sweeplab reads as an image (IMAGE_SUFFIXES, any case); hidden files are not."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def image_names(folder: Path) -> list[str]:
    """The image files directly in `folder`, sorted by name (one os.scandir pass: no stat per file)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if is_image_name(e.name) and e.is_file())


def ids_in_natural_order(names: Sequence[str], ids_with_extension: bool, folder: object = "") -> list[str]:
    """A folder's ids without a sample submission: its image names in natural order, or their stems where
    the run's ids had no extension (refused when two images share a stem)."""
    if ids_with_extension:
        return sorted(names, key=natural_key)
    stems = Counter(os.path.splitext(n)[0] for n in names)
    duplicated = sorted(s for s, n in stems.items() if n > 1)
    if duplicated:
        raise OfflineError(
            f"{folder} holds several images named {duplicated[0]} (by stem), and the run's ids have no "
            "extension: give --sample to say which is which"
        )
    return sorted(stems, key=natural_key)


# Decoding


def decode(path: Path, img_size: int) -> np.ndarray | None:
    """One image as (3, img_size, img_size) uint8, or None when it cannot be decoded."""
    try:
        with Image.open(path) as image:
            # JPEG only: decode at the smallest 1/2^k scale still >= img_size, 2-8x faster on photos.
            image.draft("RGB", (img_size, img_size))
            image = image.convert("RGB").resize((img_size, img_size), Image.Resampling.BILINEAR)
            return np.asarray(image).transpose(2, 0, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def usable_cores() -> int:
    """Cores this process may run on (not os.cpu_count(): in a container or under taskset that reports the
    host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Preprocessing and TTA: uint8 images in, probabilities out


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Class probabilities (softmax), or each tag's own (sigmoid) for multi-label."""
    return torch.sigmoid(logits) if multilabel else F.softmax(logits, 1)


def flipped(x: torch.Tensor, view: str) -> torch.Tensor:
    """A TTA view of an (N, C, H, W) batch: hflip mirrors left-right, vflip top-bottom."""
    return x.flip(-1 if view == "hflip" else -2)


def view_mean(
    probs: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tta: Sequence[str]
) -> torch.Tensor:
    """probs(x) averaged over x and its flipped views (trainer.tta)."""
    total = probs(x)
    for view in tta:
        total = total + probs(flipped(x, view))
    return total / (1 + len(tta))


class Predictor(nn.Module):
    """uint8 images (N, 3, S, S) -> probabilities (N, C): /255, the run's normalisation, each member's
    softmax (sigmoid for multi-label) averaged over the TTA views, then over the members (K fold models).

    The whole prediction in one module, so that the same object serves `sweeplab predict`, the MLflow
    model and the exported program (model.pt2); the trainer predicts through `probabilities` and
    `view_mean` too, so a run's own test predictions and these cannot drift apart.
    """

    def __init__(
        self, members: Sequence[nn.Module], stats: Stats | None, multilabel: bool, tta: Sequence[str]
    ):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.multilabel, self.tta = multilabel, tuple(tta)
        self.normalise = stats is not None
        if stats is not None:  # buffers: they follow .to(device) and travel inside an exported program
            self.register_buffer("mean", torch.tensor(stats[0]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(stats[1]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # The trainer's eval path (BatchAugment): /255, then (x - mean) / std; flips commute with both.
        x = images.float() / 255.0
        if self.normalise:
            x = (x - self.mean) / self.std
        total = None
        for member in self.members:
            probs = view_mean(lambda v, m=member: probabilities(m(v).float(), self.multilabel), x, self.tta)
            total = probs if total is None else total + probs
        return total / len(self.members)


def stacked(
    models: Sequence[Callable[[torch.Tensor], torch.Tensor]],
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Several models on one batch: (N, P, C), one slice per model, so that one decoding serves them all."""
    return lambda images: torch.stack([model(images).float() for model in models], 1)


# Prediction


def autocast(amp: bool, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast with trainer.amp on CUDA; fp32 (no autocast) anywhere else."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class Part:
    """One model to predict with (one run's: its fold models, TTA and all), at its image size and precision,
    with its weight in an ensemble's mix."""

    model: Callable[[torch.Tensor], torch.Tensor]  # uint8 (N, 3, S, S) -> probabilities (N, C), on the device
    img_size: int
    weight: float = 1.0
    amp: bool = False  # bf16 autocast on CUDA, as the run predicted its own test images


Progress = Callable[[int, int, str], None]  # (images done, images in all, what: "at 64 px")


def predict_files(
    model: Callable[[torch.Tensor], torch.Tensor],
    files: Sequence[Path],
    img_size: int,
    device: torch.device,
    batch_size: int = BATCH_SIZE,
    amp: bool = False,
    progress: Progress | None = None,
) -> tuple[np.ndarray, list[Path]]:
    """(model's outputs in the files' order, the files that could not be decoded: predicted as black
    images, as the cache stores them). The next batch decodes while the model runs on this one."""
    black = np.zeros((3, img_size, img_size), dtype=np.uint8)
    outputs, corrupt = [], []
    with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
        # pool.map submits a whole batch at once: PIL releases the GIL while it decodes and resizes.
        pending = pool.map(lambda p: decode(p, img_size), files[:batch_size])
        for start in range(0, len(files), batch_size):
            batch, images = files[start : start + batch_size], list(pending)
            pending = pool.map(
                lambda p: decode(p, img_size), files[start + batch_size : start + 2 * batch_size]
            )
            corrupt += [path for path, image in zip(batch, images, strict=True) if image is None]
            x = torch.from_numpy(np.stack([black if i is None else i for i in images])).to(device)
            with torch.no_grad(), autocast(amp, device):
                outputs.append(model(x).float().cpu())
            if progress is not None:
                progress(start + len(batch), len(files), f"at {img_size} px")
    return torch.cat(outputs).numpy(), corrupt


def predict_parts(
    parts: Sequence[Part],
    files: Sequence[Path],
    device: torch.device,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> tuple[list[np.ndarray], list[Path]]:
    """Every part's probabilities (N, C) in the files' order, the parts of one image size and precision on
    one decoding; and the files that could not be decoded (said once, however many sizes decoded them).
    The parts' models are on `device` and in eval mode already."""
    probs: dict[int, np.ndarray] = {}
    corrupt: dict[Path, None] = {}
    for size, amp in dict.fromkeys((part.img_size, part.amp) for part in parts):
        chosen = [i for i, part in enumerate(parts) if (part.img_size, part.amp) == (size, amp)]
        got, bad = predict_files(
            stacked([parts[i].model for i in chosen]), files, size, device, batch_size, amp, progress
        )
        probs |= {i: got[:, j] for j, i in enumerate(chosen)}
        corrupt |= dict.fromkeys(bad)
    return [probs[i] for i in range(len(parts))], list(corrupt)


# Mixing an ensemble


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1..N, tied values sharing their mean rank (scipy.stats.rankdata's default)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # where each run of ties begins
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + 1 + ends) / 2, ends - starts)
    return ranks


def mix(probs: Sequence[np.ndarray], method: str, weights: Sequence[float], multilabel: bool) -> np.ndarray:
    """The members' weighted mean; `rank`: of each class column's ranks (0..1) instead, rows then scaled to
    sum to 1 (for metrics that only rank, such as ROC-AUC; a multi-label row's tags are independent, so
    its ranks stay as they are)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    if method == "rank":
        probs = [np.stack([average_ranks(column) for column in p.T], 1) / len(p) for p in probs]
    mixed = sum(wi * np.asarray(p, dtype=np.float64) for wi, p in zip(w, probs, strict=True))
    return mixed / mixed.sum(1, keepdims=True) if method == "rank" and not multilabel else mixed


# The values a submission holds


def is_integer_name(name: str) -> bool:
    """A class named by an integer (a grade "3", a label "1"): ordered and written as a number."""
    return bool(_INTEGER.fullmatch(name.strip()))


def positive_class(classes: Sequence[str]) -> int:
    """The positive class of a binary competition: class "1" where there is one, else the second."""
    return list(classes).index("1") if "1" in classes else 1


def predicted_tags(probs: np.ndarray, thresholds: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
    """The tags a multi-label submission writes: prob >= threshold, and the most likely tag when none is.

    Every image has at least one tag (and an empty row would score 0 in mean F2 anyway).
    """
    cut = DEFAULT_THRESHOLD if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    pred = probs >= cut
    empty = ~pred.any(1)
    pred[empty, probs[empty].argmax(1)] = True
    return pred


def top_classes(probs: np.ndarray, k: int) -> np.ndarray:
    """(N, k) class indices, most likely first; ties go to the earlier class (a stable sort)."""
    return np.argsort(-probs, axis=1, kind="stable")[:, :k]


def label_names(classes: Sequence[str], sample_values: Sequence[str]) -> list[str]:
    """Labels as the sample writes them: the class index where the sample holds integers and the classes
    are names (a sample of 0s for cat/dog), else the class names."""
    if sample_values and all(map(is_integer_name, sample_values)) and not all(map(is_integer_name, classes)):
        return [str(i) for i in range(len(classes))]
    return list(classes)


def value_columns(
    kind: str, classes: Sequence[str], label_column: str, sample_columns: Sequence[str]
) -> list[str]:
    """The submission's columns after the id: one per class for probabilities (in the sample's order where
    it has class columns), else the sample's label column."""
    if kind == "probabilities":
        return list(sample_columns) if len(sample_columns) > 1 else list(classes)
    return [label_column]


def submission_values(
    probs: np.ndarray,
    kind: str,
    classes: Sequence[str],
    multilabel: bool,
    columns: Sequence[str],
    thresholds: np.ndarray | Sequence[float] | None = None,
    top_k: int = 5,
    sample_values: Sequence[str] = (),
) -> list[list[str]]:
    """One row of value strings per image, exactly as the CSV holds them: the `columns`' probabilities
    (value_columns), the positive class's probability, the top k labels, the tags at the thresholds (at
    least one), or the label (the most likely class)."""
    probs = np.asarray(probs, dtype=np.float64)
    if not multilabel:
        probs = probs / probs.sum(1, keepdims=True)  # rows sum to 1, as the metric reads them
    classes = list(classes)
    if kind == "probabilities":
        chosen = probs[:, [classes.index(c) for c in columns]]
        return [[FLOAT_FORMAT.format(p) for p in row] for row in chosen.tolist()]
    if kind == "probability":
        return [[FLOAT_FORMAT.format(p)] for p in probs[:, positive_class(classes)].tolist()]
    if kind == "top_k":
        cells = [" ".join(classes[j] for j in row) for row in top_classes(probs, top_k)]
    elif kind == "tags" and multilabel:
        tags = predicted_tags(probs, thresholds)
        cells = [" ".join(classes[j] for j in np.flatnonzero(row)) for row in tags]
    else:  # label, or one tag: the most likely class
        names = label_names(classes, sample_values)
        cells = [names[i] for i in probs.argmax(1)]
    return [[cell] for cell in cells]


def write_csv(path: Path, header: Sequence[str], ids: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """The submission file: the header, then one row per id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([i, *row] for i, row in zip(ids, rows, strict=True))
    return path


# The bundle's script: bundle.json and model*.pt2 beside this file


def read_bundle(folder: Path) -> dict:
    """bundle.json, with every file it lists checked against its SHA-256."""
    bundle = json.loads((folder / "bundle.json").read_text())
    for name, expected in bundle["sha256"].items():
        digest = hashlib.sha256()
        with (folder / name).open("rb") as f:
            while chunk := f.read(2**20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise OfflineError(
                f"{folder / name} is not the file the bundle was made with (its SHA-256 differs from "
                f"bundle.json's): copy the bundle again"
            )
    return bundle


def listed_images(folder: Path) -> list[str]:
    """The images of --images, refused in one line when it is not a folder or holds none."""
    if not folder.is_dir():
        raise OfflineError(f"--images {folder} is not a folder: point it at the folder of images to predict")
    names = image_names(folder)
    if not names:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise OfflineError(
            f"{folder} holds no images ({suffixes}): point --images at the test images' folder"
        )
    return names


def from_sample(folder: Path, names: list[str], sample: Path) -> dict:
    """The sample's ids (matched to file names with or without their extension), header and values."""
    with sample.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [name.strip() for name in next(reader, [])]
        rows = [row for row in reader if row]
    if len(header) < 2:
        raise OfflineError(
            f"{sample} must have a header with an id column and a value column, e.g. 'id,label'"
        )
    stems: dict[str, str] = {}
    for name in names:
        stems.setdefault(os.path.splitext(name)[0], name)
    ids = [row[0].strip() for row in rows]
    found = [i if i in set(names) else stems.get(i) for i in ids]
    missing = [i for i, name in zip(ids, found, strict=True) if name is None]
    extra = sorted(set(names) - set(found), key=natural_key)
    if missing or extra or not ids:
        raise OfflineError(
            f"{sample} and {folder} disagree: {len(ids)} ids vs {len(names)} images; ids without an image: "
            f"{missing[:SHOWN]}; images without an id: {extra[:SHOWN]}"
        )
    values = [row[1] for row in rows[:SAMPLE_VALUES] if len(row) > 1]
    return {"files": [folder / n for n in found], "ids": ids, "header": header, "sample_values": values}


def from_names(folder: Path, names: list[str], answer: dict) -> dict:
    """No sample: every image in natural order, its id its name (or its stem, as the run's ids were)."""
    columns = answer["columns"] if len(answer["columns"]) > 1 else [answer["label_column"]]
    ids = ids_in_natural_order(names, answer["ids_with_extension"], folder)
    stems = {os.path.splitext(n)[0]: n for n in names}
    files = [folder / (i if answer["ids_with_extension"] else stems[i]) for i in ids]
    header = [answer["id_column"], *columns]
    return {"files": files, "ids": ids, "header": header, "sample_values": answer["sample_values"]}


def check_columns(bundle: dict, header: list[str]) -> None:
    if (
        bundle["submission"]["kind"] == "probabilities"
        and len(header) > 2
        and set(header[1:]) != set(bundle["classes"])
    ):
        raise OfflineError(
            f"the sample's columns {header[1 : SHOWN + 1]} are not the model's classes "
            f"{bundle['classes'][:SHOWN]}: give the competition's own sample submission"
        )


def load_program(path: Path, device: torch.device) -> torch.nn.Module:
    """A program (model.pt2) on `device`. torch.export records the device it traced on (cpu) inside the
    graph, in the checks before each dtype cast: `.to(device)` moves the weights but not those, and the
    first batch on a GPU stops with "Tensor device mismatch". The program itself is moved (torch >= 2.6)."""
    program = torch.export.load(path)
    if device.type != "cpu":
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    return program.module()


def bundle_probabilities(
    folder: Path, bundle: dict, files: list[Path], device: torch.device, batch_size: int
) -> np.ndarray:
    """Every part's probabilities, mixed as `sweeplab ensemble` mixed them; one run's as they are."""
    parts = [
        Part(load_program(folder / part["program"], device), part["img_size"], part["weight"])
        for part in bundle["parts"]
    ]
    progress = progress_line if sys.stderr.isatty() else None
    probs, corrupt = predict_parts(parts, files, device, batch_size, progress)
    if corrupt:
        print(
            f"warning: {len(corrupt)} images could not be decoded, predicted as black: {corrupt[:3]}",
            file=sys.stderr,
        )
    if bundle["ensemble_of"] is None:  # one run's model
        return probs[0]
    # An ensemble mixes even one member, as its submission was made: `rank` turns probabilities into ranks.
    weights = [part.weight for part in parts]
    return mix(probs, bundle["method"], weights, bundle["task"] == "multilabel")


def progress_line(done: int, total: int, what: str) -> None:
    """A Progress on stderr: one line rewritten in place, ended once every image is done. For a terminal
    only (a log would fill with its \\r lines)."""
    end = "\n" if done == total else ""
    print(f"\r{done}/{total} images {what}", end=end, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Predict a folder of images with this bundle's model.")
    parser.add_argument("--images", required=True, help="the folder of images to predict")
    parser.add_argument("--out", default="submission.csv", help="the submission file (default: %(default)s)")
    parser.add_argument("--sample", help="a sample submission: its header, ids and order")
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="images per batch (default: %(default)s)"
    )
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    here = Path(__file__).resolve().parent  # the bundle's folder
    try:
        bundle = read_bundle(here)
        folder = Path(args.images)
        names = listed_images(folder)
        table = (
            from_sample(folder, names, Path(args.sample))
            if args.sample
            else from_names(folder, names, bundle["submission"])
        )
        check_columns(bundle, table["header"])
    except OfflineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = torch.device(
        args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    )
    probs = bundle_probabilities(here, bundle, table["files"], device, args.batch_size)
    answer, header = bundle["submission"], table["header"]
    columns = value_columns(answer["kind"], bundle["classes"], header[1], header[1:])
    rows = submission_values(
        probs,
        answer["kind"],
        bundle["classes"],
        bundle["task"] == "multilabel",
        columns,
        bundle["thresholds"],
        answer["top_k"],
        table["sample_values"],
    )
    write_csv(Path(args.out), [header[0], *columns], table["ids"], rows)
    print(f"{args.out}: {len(rows)} images of {folder} predicted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
