"""A run's model as files: the weights under their frozen names beside a small JSON spec of everything
prediction needs (classes, task, image size, normalisation, TTA, thresholds, the model config, the
submission's format), and the way back from those files to `Predictor`s.

An ensemble run's model holds its members' model folders under members/0, members/1, ... (each a run's
spec and weights) and its own spec: how the members' probabilities mix (mean or rank, their weights, as
`sweeplab ensemble` mixed their test predictions), its thresholds and the submission's format.

The weights are what wrote submission_best: the best epoch's, with folds every fold's at the mean
curve's best epoch. A run frozen all along keeps the head only; its backbone is the pretrained one,
named (and hashed) in `backbone`, rebuilt from the same weights file or hub cache on load.
"""

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from sweeplab.errors import SweeplabError
from sweeplab.models.builders import TransferModel, build_model
from sweeplab.offline import Predictor, Stats

SPEC_FORMAT = 1  # bump when a field changes meaning; load_packaged refuses newer ones
ENSEMBLE = "ensemble"  # the spec's `kind` for an ensemble's model; a run's model has no kind
MEMBERS = "members"  # an ensemble's model folder: members/0, members/1, ... one member's model each
SPEC_FILE = "data/sweeplab_model.json"  # inside the MLflow model folder (its pyfunc data_path)
FULL, HEAD = "model_state_dict", "head_state_dict"  # the weights files' frozen names (docs/configuration.md)
BACKBONE_FILE = "backbone.json"  # a frozen run's backbone identity, beside its head's weights


@dataclass(frozen=True)
class Answer:
    """What a submission of this run holds and how its file is laid out (scoring.submission's rules)."""

    kind: str  # label | probability | probabilities | tags | top_k
    top_k: int
    id_column: str
    label_column: str
    columns: tuple[str, ...]  # the sample's header after its id column
    sample_values: tuple[str, ...]  # the sample's first value column (labels written as indices?)
    ids_with_extension: bool  # the run's ids were file names (cactus.jpg), not stems


class SpecFile:
    """What a run's and an ensemble's spec share: the task, and the JSON file they are written as."""

    task: str  # multiclass | multilabel

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        return path


@dataclass(frozen=True)
class ModelSpec(SpecFile):
    run_id: str
    classes: list[str]
    task: str  # multiclass | multilabel
    img_size: int
    stats: Stats | None  # mean and std on the 0..1 scale; None: no normalisation
    tta: list[str]
    amp: bool  # the run predicted under bf16 autocast (CUDA)
    thresholds: list[float] | None  # multi-label: the best epoch's per-tag thresholds
    model: dict  # the run's `model` config, resolved
    weights: list[str]  # one file per member model, in the model folder
    head_only: bool  # the files hold the head; the backbone is `backbone`'s pretrained one
    backbone: dict | None
    answer: Answer
    format: int = SPEC_FORMAT

    @classmethod
    def read(cls, path: Path) -> "ModelSpec":
        spec = read_spec(path)
        if not isinstance(spec, ModelSpec):
            raise SweeplabError(f"{path} is an ensemble's model, not one run's")
        return spec

    @classmethod
    def from_fields(cls, fields: dict) -> "ModelSpec":
        stats = fields.pop("stats")
        answer = _answer(fields.pop("answer"))
        return cls(**fields, stats=None if stats is None else (stats[0], stats[1]), answer=answer)


@dataclass(frozen=True)
class EnsembleSpec(SpecFile):
    """An ensemble run's model: its members' models mixed as `sweeplab ensemble` mixed their predictions."""

    run_id: str
    classes: list[str]
    task: str
    thresholds: list[float] | None  # multi-label: the ensemble's own, tuned on its validation predictions
    answer: Answer
    method: str  # mean | rank (scoring.averaging.combine)
    member_weights: list[float]  # one per member: --weights, greedy selection's counts, else 1s
    members: list[str]  # the member runs' ids; their models are in members/0, members/1, ...
    kind: str = ENSEMBLE
    format: int = SPEC_FORMAT


def read_spec(path: Path) -> ModelSpec | EnsembleSpec:
    """A model folder's spec (data/sweeplab_model.json): one run's, or an ensemble's."""
    fields = json.loads(path.read_text())
    if fields.get("format", 0) > SPEC_FORMAT:
        raise SweeplabError(
            f"{path} was written by a newer sweeplab (model format {fields['format']}): upgrade sweeplab"
        )
    if fields.get("kind") == ENSEMBLE:
        return EnsembleSpec(**{**fields, "answer": _answer(fields["answer"])})
    return ModelSpec.from_fields(fields)


def _answer(fields: dict) -> Answer:
    return Answer(
        **{**fields, "columns": tuple(fields["columns"]), "sample_values": tuple(fields["sample_values"])}
    )


def member_folder(folder: Path, index: int) -> Path:
    return folder / MEMBERS / str(index)


def copy_member(source: Path, spec: ModelSpec, folder: Path, index: int) -> None:
    """One run's model folder (its spec and weights; not its MLmodel or code) as an ensemble's member."""
    target = member_folder(folder, index)
    names = [SPEC_FILE, *spec.weights, *([BACKBONE_FILE] if spec.head_only else [])]
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)


def weights_names(head_only: bool, folds: list[int | None]) -> list[str]:
    """model_state_dict.pt (head_state_dict.pt for a frozen run); with folds one file per fold."""
    stem = HEAD if head_only else FULL
    return [f"{stem}.pt" if fold is None else f"{stem}_fold{fold}.pt" for fold in folds]


def head_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The head's own entries: from a whole TransferModel's state (head.weight), or the head's (weight)."""
    if not any(k.startswith("head.") for k in state):
        return state
    return {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}


def write_weights(folder: Path, spec: ModelSpec, states: list[dict[str, torch.Tensor]]) -> list[Path]:
    """One file per member under its frozen name; the head alone for a run frozen all along."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, state in zip(spec.weights, states, strict=True):
        torch.save(head_state(state) if spec.head_only else state, folder / name)
        paths.append(folder / name)
    return paths


@dataclass
class Part:
    """One run's models (its fold models) as one Predictor, at its own image size, with its weight in
    an ensemble."""

    spec: ModelSpec
    predictor: Predictor
    weight: float = 1.0


@dataclass
class Packaged:
    """A model folder loaded: its spec and one Part per run it holds (one; an ensemble's members)."""

    spec: ModelSpec | EnsembleSpec
    parts: list[Part]

    @property
    def method(self) -> str:
        return self.spec.method if isinstance(self.spec, EnsembleSpec) else "mean"

    @property
    def models(self) -> int:
        """How many trained models predict: every part's fold models."""
        return sum(len(part.spec.weights) for part in self.parts)


def load_packaged(folder: Path) -> Packaged:
    """The spec and the Predictors rebuilt from a model folder (a run's `model/` artifacts), on the CPU."""
    spec = read_spec(folder / SPEC_FILE)
    if not isinstance(spec, EnsembleSpec):
        return Packaged(spec, [_part(folder, spec)])
    parts = []
    for index, weight in enumerate(spec.member_weights):
        member = member_folder(folder, index)
        parts.append(_part(member, ModelSpec.read(member / SPEC_FILE), weight))
    return Packaged(spec, parts)


def _part(folder: Path, spec: ModelSpec, weight: float = 1.0) -> Part:
    members = [
        _member(spec, torch.load(folder / name, map_location="cpu", weights_only=True))
        for name in spec.weights
    ]
    return Part(spec, Predictor(members, spec.stats, spec.multilabel, spec.tta).eval(), weight)


def _member(spec: ModelSpec, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    cfg = OmegaConf.create(spec.model)
    if not spec.head_only:  # every weight is in the file: no pretrained weights to fetch
        model = build_model(cfg, len(spec.classes), spec.img_size, load_weights=False)
        model.load_state_dict(state)
        return model
    model = build_model(cfg, len(spec.classes), spec.img_size)
    recorded = (spec.backbone or {}).get("sha256")
    loaded = model.weights.sha256 if isinstance(model, TransferModel) and model.weights else None
    if recorded and loaded and recorded != loaded:
        raise SweeplabError(
            f"the backbone weights {model.weights.path} (sha256 {loaded[:12]}...) are not the ones run "
            f"{spec.run_id} trained its head on ({recorded[:12]}...): put back the file it loaded, "
            f"{spec.backbone.get('file')}"
        )
    model.head.load_state_dict(state)
    return model
