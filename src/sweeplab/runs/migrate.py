"""Configs recorded by an older sweeplab, brought up to today's schemas so `sweeplab rerun` can run them.

A key added since the run was recorded gets its schema default (the value the old code behaved as);
a renamed key is moved, a removed one dropped. Values are validated against today's schemas on the way.
"""

import dataclasses

from omegaconf import DictConfig, OmegaConf

from sweeplab.config import SCHEMAS
from sweeplab.protocol import StudyConfig

# old key -> new key, applied before the defaults are filled in. Add a line with every rename.
RENAMED: dict[str, str] = {}
# keys removed since, dropped from a recorded config. Add a line with every removal.
REMOVED: tuple[str, ...] = (
    "trainer.simulate_oom_above_batch",  # a test hook until #19: tests inject the failure themselves now
)
# model.name values recorded before model=torchvision existed (#12): those options are now its presets.
LEGACY_MODEL_NAMES = ("resnet18", "resnet50", "resnet101")


def migrate(recorded: DictConfig) -> DictConfig:
    """The recorded config with renamed keys moved, removed ones dropped and keys it lacks filled with
    their defaults."""
    cfg = recorded.copy()
    model = cfg.get("model")
    if isinstance(model, DictConfig) and model.get("name") in LEGACY_MODEL_NAMES and "arch" not in model:
        model.arch, model.name = model.name, "torchvision"
    for old, new in RENAMED.items():
        value = OmegaConf.select(cfg, old, default=None)
        if value is not None and OmegaConf.select(cfg, new, default=None) is None:
            OmegaConf.update(cfg, new, value, force_add=True)
            _drop(cfg, old)
    for key in REMOVED:
        _drop(cfg, key)
    for group, schemas in SCHEMAS.items():
        node = cfg.get(group)
        schema = _schema_for(node, list(schemas.values())) if isinstance(node, DictConfig) else None
        if schema is not None:
            cfg[group] = OmegaConf.merge(OmegaConf.structured(schema), node)
    cfg.study = OmegaConf.merge(OmegaConf.structured(StudyConfig), cfg.get("study") or {})
    return cfg


def _drop(cfg: DictConfig, key: str) -> None:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    if isinstance(node, DictConfig) and leaf in node:
        node.pop(leaf)


def _schema_for(node: DictConfig, schemas: list[type]) -> type | None:
    """The group's schema that holds every recorded key, preferring the one with the fewest others."""
    keys = set(node.keys())
    fitting = [s for s in schemas if keys <= {f.name for f in dataclasses.fields(s)}]
    target = node.get("_target_")
    same_target = [s for s in fitting if getattr(s, "_target_", None) in (target, None)]
    candidates = same_target or fitting
    return min(candidates, key=lambda s: len(dataclasses.fields(s)), default=None)
