"""Predict a folder of images with a model exported by `sweeplab export`; write a Kaggle submission.

    python predict.py --images /kaggle/input/COMP/test --out submission.csv [--sample sample_submission.csv]

Needs torch, numpy and pillow only: not sweeplab, not MLflow (a Kaggle notebook without internet has
these). model.pt2 holds the whole prediction (scaling, normalisation, every fold model, softmax or
sigmoid, the TTA views); an ensemble's bundle holds one such program per member run (model_0.pt2, ...),
each at its own image size, mixed as `sweeplab ensemble` mixed them. bundle.json beside this file holds
the parts, the classes, the thresholds, the submission's format and every program's SHA-256. The rules
are `sweeplab predict`'s: images decoded as sweeplab's image cache decodes them; with --sample the
sample's header, ids and order; without, the run's own header, every image in natural order of its name.

This file is a template kept in sweeplab (sweeplab/offline.py), tested against
`sweeplab predict` and the run's own submission.
"""

import argparse
import csv
import hashlib
import json
import os
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
FLOAT_FORMAT = "{:.10g}"  # ten significant digits, as sweeplab writes probabilities
SAMPLE_VALUES = 100  # the sample's values read to tell whether labels are written as class indices
DEFAULT_THRESHOLD = 0.5
SHOWN = 5
_INTEGER = re.compile(r"-?\d+")


class BundleError(Exception):
    """A problem the user can fix: printed as one line, and nothing is written."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="the folder of images to predict")
    parser.add_argument("--out", default="submission.csv", help="the submission file (default: %(default)s)")
    parser.add_argument("--sample", help="a sample submission: its header, ids and order")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    return parser.parse_args(argv)


def read_bundle(folder: Path) -> dict:
    """bundle.json, with every file it lists checked against its SHA-256."""
    bundle = json.loads((folder / "bundle.json").read_text())
    for name, expected in bundle["sha256"].items():
        digest = hashlib.sha256()
        with (folder / name).open("rb") as f:
            while chunk := f.read(2**20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise BundleError(
                f"{folder / name} is not the file the bundle was made with (its SHA-256 differs from "
                f"bundle.json's): copy the bundle again"
            )
    return bundle


def natural_key(text: str) -> tuple:
    """Sort key putting 2.jpg before 10.jpg."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def list_images(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise BundleError(f"--images {folder} is not a folder: point it at the folder of images to predict")
    with os.scandir(folder) as entries:
        names = [
            e.name
            for e in entries
            if not e.name.startswith(".")
            and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES
            and e.is_file()
        ]
    if not names:
        raise BundleError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return sorted(names)


def from_sample(folder: Path, names: list[str], sample: Path) -> dict:
    """The sample's ids (matched to file names with or without their extension), header and values."""
    with sample.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [name.strip() for name in next(reader, [])]
        rows = [row for row in reader if row]
    if len(header) < 2:
        raise BundleError(
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
        raise BundleError(
            f"{sample} and {folder} disagree: {len(ids)} ids vs {len(names)} images; ids without an image: "
            f"{missing[:SHOWN]}; images without an id: {extra[:SHOWN]}"
        )
    values = [row[1] for row in rows[:SAMPLE_VALUES] if len(row) > 1]
    return {"files": [folder / n for n in found], "ids": ids, "header": header, "sample_values": values}


def from_names(folder: Path, names: list[str], answer: dict) -> dict:
    """No sample: every image in natural order, its id its name (or its stem, as the run's ids were)."""
    header = (
        [answer["id_column"], *answer["columns"]]
        if answer["columns"]
        else [answer["id_column"], answer["label_column"]]
    )
    if answer["ids_with_extension"]:
        ids = sorted(names, key=natural_key)
        files = [folder / n for n in ids]
    else:
        stems = {os.path.splitext(n)[0]: n for n in names}
        if len(stems) < len(names):
            twice = next(s for s, n in Counter(os.path.splitext(n)[0] for n in names).items() if n > 1)
            raise BundleError(f"{folder} holds several images named {twice} (by stem): give --sample")
        ids = sorted(stems, key=natural_key)
        files = [folder / stems[i] for i in ids]
    return {"files": files, "ids": ids, "header": header, "sample_values": answer["sample_values"]}


def decode(path: Path, img_size: int) -> np.ndarray | None:
    """One image as (3, img_size, img_size) uint8, or None: exactly sweeplab.data.images.decode."""
    try:
        with Image.open(path) as image:
            # JPEG only: decode at the smallest 1/2^k scale still >= img_size, 2-8x faster on photos.
            image.draft("RGB", (img_size, img_size))
            image = image.convert("RGB").resize((img_size, img_size), Image.Resampling.BILINEAR)
            return np.asarray(image).transpose(2, 0, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def predict(models: list, files: list[Path], img_size: int, device: torch.device, batch_size: int) -> list:
    """Each model's probabilities (N, C) in the files' order; the next batch decodes while they run."""
    black = np.zeros((3, img_size, img_size), dtype=np.uint8)
    probs, corrupt, shown = [[] for _ in models], [], sys.stderr.isatty()  # no \r lines in a log
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        pending = pool.map(lambda p: decode(p, img_size), files[:batch_size])
        for start in range(0, len(files), batch_size):
            batch, images = files[start : start + batch_size], list(pending)
            pending = pool.map(
                lambda p: decode(p, img_size), files[start + batch_size : start + 2 * batch_size]
            )
            corrupt += [path for path, image in zip(batch, images, strict=True) if image is None]
            x = torch.from_numpy(np.stack([black if i is None else i for i in images])).to(device)
            with torch.no_grad():
                for got, model in zip(probs, models, strict=True):
                    got.append(model(x).float().cpu())
            if shown:
                done = f"{start + len(batch)}/{len(files)} images at {img_size} px"
                print(f"\r{done}", end="", file=sys.stderr, flush=True)
    if shown:
        print(file=sys.stderr)
    if corrupt:
        print(
            f"warning: {len(corrupt)} images could not be decoded, predicted as black: {corrupt[:3]}",
            file=sys.stderr,
        )
    return [torch.cat(got).numpy() for got in probs]


def predict_parts(bundle: dict, files: list[Path], device: torch.device, batch_size: int) -> np.ndarray:
    """Every part's probabilities, the parts of one image size on one decoding, mixed into (N, C)."""
    parts, probs = bundle["parts"], {}
    for size in dict.fromkeys(part["img_size"] for part in parts):
        chosen = [i for i, part in enumerate(parts) if part["img_size"] == size]
        models = [load_model(HERE / parts[i]["program"], device) for i in chosen]
        probs |= dict(zip(chosen, predict(models, files, size, device, batch_size), strict=True))
    if bundle["ensemble_of"] is None:  # one run's model
        return probs[0]
    # An ensemble mixes even one member, as its submission was made: `rank` turns probabilities into ranks.
    weights = [part["weight"] for part in parts]
    multilabel = bundle["task"] == "multilabel"
    return mix([probs[i] for i in range(len(parts))], bundle["method"], weights, multilabel)


def mix(probs: list, method: str, weights: list[float], multilabel: bool) -> np.ndarray:
    """The parts' weighted mean; `rank`: of each column's average ranks / N, rows then scaled to sum to 1
    unless multi-label. Exactly sweeplab.scoring.averaging.combine, without scipy."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    if method == "rank":
        probs = [np.stack([average_ranks(column) for column in p.T], 1) / len(p) for p in probs]
    mixed = sum(wi * p.astype(np.float64) for wi, p in zip(w, probs, strict=True))
    return mixed / mixed.sum(1, keepdims=True) if method == "rank" and not multilabel else mixed


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1..N, tied values sharing their mean rank (scipy.stats.rankdata's default)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # where each run of ties begins
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + 1 + ends) / 2, ends - starts)
    return ranks


def label_names(classes: list[str], sample_values: list[str]) -> list[str]:
    """Labels as the sample writes them: class indices where it holds integers and the classes are names."""
    integers = [bool(_INTEGER.fullmatch(v.strip())) for v in sample_values]
    if sample_values and all(integers) and not all(_INTEGER.fullmatch(c.strip()) for c in classes):
        return [str(i) for i in range(len(classes))]
    return list(classes)


def submission_values(
    probs: np.ndarray, bundle: dict, header: list[str], sample_values: list[str]
) -> list[list[str]]:
    """One row of value strings per image: probabilities, tags (thresholds, at least one), labels, top k."""
    classes, answer = bundle["classes"], bundle["submission"]
    kind, multilabel = answer["kind"], bundle["task"] == "multilabel"
    probs = np.asarray(probs, dtype=np.float64)
    if not multilabel:
        probs = probs / probs.sum(1, keepdims=True)  # rows sum to 1, as the metric reads them
    if kind == "probabilities":
        columns = header[1:] if len(header) > 2 else classes
        chosen = probs[:, [classes.index(c) for c in columns]]
        return [[FLOAT_FORMAT.format(p) for p in row] for row in chosen.tolist()]
    if kind == "probability":  # the positive class: "1" where there is one, else the second
        positive = classes.index("1") if "1" in classes else 1
        return [[FLOAT_FORMAT.format(p)] for p in probs[:, positive].tolist()]
    if kind == "top_k":
        top = np.argsort(-probs, axis=1, kind="stable")[:, : answer["top_k"]]
        return [[" ".join(classes[j] for j in row)] for row in top]
    if kind == "tags" and multilabel:
        thresholds = bundle["thresholds"]
        tags = probs >= (
            DEFAULT_THRESHOLD if thresholds is None else np.asarray(thresholds, dtype=np.float64)
        )
        empty = ~tags.any(1)
        tags[empty, probs[empty].argmax(1)] = True  # every image gets its most likely tag at least
        return [[" ".join(classes[j] for j in np.flatnonzero(row))] for row in tags]
    names = label_names(classes, sample_values)
    return [[names[i]] for i in probs.argmax(1)]


def submission_header(bundle: dict, header: list[str]) -> list[str]:
    """The id column and the value columns: probabilities per class, else the sample's label column."""
    if bundle["submission"]["kind"] == "probabilities":
        return [header[0], *(header[1:] if len(header) > 2 else bundle["classes"])]
    return header[:2]


def check_columns(bundle: dict, header: list[str]) -> None:
    if (
        bundle["submission"]["kind"] == "probabilities"
        and len(header) > 2
        and set(header[1:]) != set(bundle["classes"])
    ):
        raise BundleError(
            f"the sample's columns {header[1 : SHOWN + 1]} are not the model's classes "
            f"{bundle['classes'][:SHOWN]}: give the competition's own sample submission"
        )


def load_model(path: Path, device: torch.device) -> torch.nn.Module:
    """A program (model.pt2) on `device`. torch.export records the device it traced on (cpu) inside the
    graph, in the checks before each dtype cast: `.to(device)` moves the weights but not those, and the
    first batch on a GPU stops with "Tensor device mismatch". The program itself is moved (torch >= 2.6)."""
    program = torch.export.load(path)
    if device.type != "cpu":
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    return program.module()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        bundle = read_bundle(HERE)
        folder, names = Path(args.images), list_images(Path(args.images))
        table = (
            from_sample(folder, names, Path(args.sample))
            if args.sample
            else from_names(folder, names, bundle["submission"])
        )
        check_columns(bundle, table["header"])
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = torch.device(
        args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    )
    probs = predict_parts(bundle, table["files"], device, args.batch_size)
    rows = submission_values(probs, bundle, table["header"], table["sample_values"])
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(submission_header(bundle, table["header"]))
        writer.writerows([i, *row] for i, row in zip(table["ids"], rows, strict=True))
    print(f"{args.out}: {len(rows)} images of {folder} predicted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
