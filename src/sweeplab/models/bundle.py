"""`sweeplab export`: a run's model as a folder that a Kaggle notebook without internet runs with torch,
numpy and pillow alone.

- model.pt2: the whole Predictor (scaling, normalisation, every member model with its weights, softmax
  or sigmoid, the TTA views) exported by torch.export, with a dynamic batch dimension, so that loading
  it needs no model code (not sweeplab's, not torchvision's or timm's);
- bundle.json: the image size, the classes, the thresholds, the submission's format, and model.pt2's
  SHA-256 (an altered or truncated copy is refused);
- predict.py: the template bundle_predict.py, which decodes and writes submissions by sweeplab's rules.
"""

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from sweeplab.errors import SweeplabError
from sweeplab.models.packaged import ModelSpec, Packaged
from sweeplab.models.weights import file_sha256

PROGRAM, CONFIG, SCRIPT = "model.pt2", "bundle.json", "predict.py"
TEMPLATE = Path(__file__).with_name("bundle_predict.py")
BUNDLE_FORMAT = 1
CHECK_BATCH = 3  # the export traces a batch of 2; a batch of 3 checks that the batch size stays free


def export_bundle(packaged: Packaged, out: Path) -> Path:
    """Write the bundle into `out` (new or empty): built beside it and renamed, so a failure leaves none."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SweeplabError(f"{out} exists and is not empty: give a new folder for the bundle")
    program = exported(packaged)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        torch.export.save(program, staging / PROGRAM)
        config = bundle_config(packaged.spec, {PROGRAM: file_sha256(staging / PROGRAM)})
        (staging / CONFIG).write_text(json.dumps(config, indent=2))
        shutil.copyfile(TEMPLATE, staging / SCRIPT)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def exported(packaged: Packaged) -> torch.export.ExportedProgram:
    """The Predictor through torch.export, checked to give the same probabilities on another batch size."""
    predictor, size = packaged.predictor.cpu().eval(), packaged.spec.img_size
    generator = torch.Generator().manual_seed(0)
    example = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8, generator=generator)
    batch = torch.export.Dim("batch", min=1)
    try:
        program = torch.export.export(predictor, (example,), dynamic_shapes={"images": {0: batch}})
    except Exception as e:  # which of torch.export's many errors does not matter: the arch cannot go
        reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        raise SweeplabError(
            f"{architecture(packaged.spec)} cannot be exported by torch.export ({reason[:300]}); "
            "`sweeplab predict` still predicts with it"
        ) from e
    check = torch.randint(0, 256, (CHECK_BATCH, 3, size, size), dtype=torch.uint8, generator=generator)
    with torch.no_grad():
        same = torch.allclose(program.module()(check), predictor(check), atol=1e-5)
    if not same:
        raise SweeplabError(
            f"{architecture(packaged.spec)} exported by torch.export predicts differently from the model: "
            "`sweeplab predict` still predicts with it"
        )
    return program


def architecture(spec: ModelSpec) -> str:
    """model=torchvision model.arch=resnet18, as the run's config said it."""
    model = spec.model
    arch = f" model.arch={model['arch']}" if model.get("arch") else ""
    return f"model={model.get('name')}{arch}"


def bundle_config(spec: ModelSpec, sha256: dict[str, str]) -> dict:
    """What predict.py reads (and a reader of the bundle wants to know)."""
    return {
        "format": BUNDLE_FORMAT,
        "run_id": spec.run_id,
        "model": architecture(spec),
        "members": len(spec.weights),
        "classes": spec.classes,
        "task": spec.task,
        "img_size": spec.img_size,
        # Inside model.pt2 already; written here for a reader.
        "preprocessing": {
            "decode": "PIL: draft, RGB, bilinear resize to img_size x img_size",
            "scale": "1/255",
            "mean": spec.stats and list(spec.stats[0]),
            "std": spec.stats and list(spec.stats[1]),
        },
        "tta": spec.tta,
        "thresholds": spec.thresholds,
        "submission": asdict(spec.answer),
        "sha256": sha256,
    }
