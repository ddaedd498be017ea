"""`sweeplab export`: a run's model as a folder that a Kaggle notebook without internet runs with torch,
numpy and pillow alone.

- model.pt2: the whole Predictor (scaling, normalisation, every fold model with its weights, softmax
  or sigmoid, the TTA views) exported by torch.export, with a dynamic batch dimension, so that loading
  it needs no model code (not sweeplab's, not torchvision's or timm's). An ensemble's bundle has one
  program per member run instead (model_0.pt2, model_1.pt2, ...), each at its own image size;
- bundle.json: the parts (program, image size, weight) and how they mix, the classes, the thresholds,
  the submission's format, and every program's SHA-256 (an altered or truncated copy is refused);
- predict.py: sweeplab/offline.py, copied: the code sweeplab itself decodes, predicts, mixes and writes
  submissions with, run as a script (it imports nothing from sweeplab).
"""

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from sweeplab import offline
from sweeplab.errors import SweeplabError
from sweeplab.models.packaged import EnsembleSpec, ModelSpec, Packaged, Part
from sweeplab.models.weights import file_sha256

PROGRAM, CONFIG, SCRIPT = "model.pt2", "bundle.json", "predict.py"
SCRIPT_SOURCE = Path(offline.__file__)  # shipped as it is: sweeplab's own prediction rules, one copy
BUNDLE_FORMAT = 2  # 2: parts (an ensemble's members), each a program at its own image size
CHECK_BATCH = 3  # the export traces a batch of 2; a batch of 3 checks that the batch size stays free


def export_bundle(packaged: Packaged, out: Path) -> Path:
    """Write the bundle into `out` (new or empty): built beside it and renamed, so a failure leaves none."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SweeplabError(f"{out} exists and is not empty: give a new folder for the bundle")
    programs = {program_name(packaged, i): exported(part) for i, part in enumerate(packaged.parts)}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name, program in programs.items():
            torch.export.save(program, staging / name)
        config = bundle_config(packaged, {name: file_sha256(staging / name) for name in programs})
        (staging / CONFIG).write_text(json.dumps(config, indent=2))
        shutil.copyfile(SCRIPT_SOURCE, staging / SCRIPT)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def program_name(packaged: Packaged, index: int) -> str:
    """model.pt2 for one run; model_0.pt2, model_1.pt2, ... for an ensemble's members."""
    return PROGRAM if len(packaged.parts) == 1 else PROGRAM.replace(".", f"_{index}.")


def exported(part: Part) -> torch.export.ExportedProgram:
    """A Predictor through torch.export, checked to give the same probabilities on another batch size."""
    predictor, size = part.predictor.cpu().eval(), part.spec.img_size
    generator = torch.Generator().manual_seed(0)
    example = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8, generator=generator)
    batch = torch.export.Dim("batch", min=1)
    try:
        program = torch.export.export(predictor, (example,), dynamic_shapes={"images": {0: batch}})
    except Exception as e:  # which of torch.export's many errors does not matter: the arch cannot go
        reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        raise SweeplabError(
            f"{architecture(part.spec)} cannot be exported by torch.export ({reason[:300]}); "
            "`sweeplab predict` still predicts with it"
        ) from e
    check = torch.randint(0, 256, (CHECK_BATCH, 3, size, size), dtype=torch.uint8, generator=generator)
    with torch.no_grad():
        same = torch.allclose(program.module()(check), predictor(check), atol=1e-5)
    if not same:
        raise SweeplabError(
            f"{architecture(part.spec)} exported by torch.export predicts differently from the model: "
            "`sweeplab predict` still predicts with it"
        )
    return program


def architecture(spec: ModelSpec) -> str:
    """model=torchvision model.arch=resnet18, as the run's config said it."""
    model = spec.model
    arch = f" model.arch={model['arch']}" if model.get("arch") else ""
    return f"model={model.get('name')}{arch}"


def bundle_config(packaged: Packaged, sha256: dict[str, str]) -> dict:
    """What predict.py reads (and a reader of the bundle wants to know)."""
    spec = packaged.spec
    return {
        "format": BUNDLE_FORMAT,
        "run_id": spec.run_id,
        "classes": spec.classes,
        "task": spec.task,
        "parts": [_part_config(part, name) for part, name in zip(packaged.parts, sha256, strict=True)],
        "method": packaged.method,  # how the parts' probabilities mix: mean, or rank (of each column)
        "thresholds": spec.thresholds,
        "submission": asdict(spec.answer),
        "ensemble_of": spec.members if isinstance(spec, EnsembleSpec) else None,
        "sha256": sha256,
    }


def _part_config(part: Part, program: str) -> dict:
    spec = part.spec
    return {
        "program": program,
        "run_id": spec.run_id,
        "model": architecture(spec),
        "members": len(spec.weights),  # fold models, averaged inside the program
        "img_size": spec.img_size,
        "weight": part.weight,
        # Inside the program already; written here for a reader.
        "preprocessing": {
            "decode": "PIL: draft, RGB, bilinear resize to img_size x img_size",
            "scale": "1/255",
            "mean": spec.stats and list(spec.stats[0]),
            "std": spec.stats and list(spec.stats[1]),
        },
        "tta": spec.tta,
    }
