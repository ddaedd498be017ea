"""Mixup and CutMix on whole batches, drawn per image: each image is mixed, with probability
augmentation.mix_prob, with its partner in a random permutation of the batch.

The targets are not mixed here: the loss of an image is lam x its own label's loss plus (1 - lam) x its
partner's, which is the loss of the mixed soft target for cross-entropy (with label smoothing too) and for
each tag's BCE alike, since both are linear in the target. So one code path serves single- and
multi-label data, where torchvision's v2 MixUp/CutMix take class indices only.
"""

from dataclasses import dataclass

import torch

from sweeplab.errors import ConfigError

# With both on, each mixed image takes CutMix or Mixup with even odds (timm's Mixup switch_prob 0.5).
CUTMIX_SHARE = 0.5


@dataclass(frozen=True)
class Mixed:
    """A mixed batch: the images, each one's partner (a row of the batch) and its own label's weight."""

    images: torch.Tensor
    partner: torch.Tensor  # (N,) long
    own: torch.Tensor  # (N,) float in [0, 1]; 1.0 for an image left alone


class BatchMix:
    def __init__(self, mixup_alpha: float, cutmix_alpha: float, mix_prob: float, until_epoch: int | None):
        for key, alpha in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
            if alpha < 0:
                raise ConfigError(
                    f"augmentation.{key}={alpha} must be >= 0 (0: off; timm's recipes use 0.2-1.0)"
                )
        if not 0.0 <= mix_prob <= 1.0:
            raise ConfigError(f"augmentation.mix_prob={mix_prob} is a probability: use a value in [0, 1]")
        if until_epoch is not None and until_epoch < 1:
            raise ConfigError(
                f"augmentation.mix_until_epoch={until_epoch} must be an epoch >= 1, or null for every epoch"
            )
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.mix_prob, self.until_epoch = mix_prob, until_epoch

    @classmethod
    def from_cfg(cls, cfg) -> "BatchMix | None":
        """The augmentation group's mixing, or None when it is off (both alphas 0 or mix_prob 0)."""
        mixup, cutmix = cfg.get("mixup_alpha", 0.0), cfg.get("cutmix_alpha", 0.0)
        mix = cls(mixup, cutmix, cfg.get("mix_prob", 1.0), cfg.get("mix_until_epoch"))
        return mix if (mixup or cutmix) and mix.mix_prob else None

    def active(self, epoch: int) -> bool:
        return self.until_epoch is None or epoch <= self.until_epoch

    def __call__(self, x: torch.Tensor) -> Mixed:
        n, _, h, w = x.shape
        device = x.device
        partner = torch.randperm(n, device=device)
        mixed = torch.rand(n, device=device) < self.mix_prob
        cut = torch.zeros(n, dtype=torch.bool, device=device)
        if self.cutmix_alpha:
            cut = torch.rand(n, device=device) < (CUTMIX_SHARE if self.mixup_alpha else 1.0)
        own = torch.ones(n, device=device)
        if self.mixup_alpha:
            lam = _beta(self.mixup_alpha, n, device)
            blend = (mixed & ~cut).float() * (1 - lam)  # the partner's share, 0 for the others
            x = x * (1 - blend).view(-1, 1, 1, 1) + x[partner] * blend.view(-1, 1, 1, 1)
            own = own - blend
        if self.cutmix_alpha:
            box, area = _boxes(_beta(self.cutmix_alpha, n, device), h, w)
            inside = box & (mixed & cut).view(-1, 1, 1, 1)
            x = torch.where(inside, x[partner], x)
            own = torch.where(mixed & cut, 1 - area, own)
        return Mixed(x, partner, own)


def _beta(alpha: float, n: int, device: torch.device) -> torch.Tensor:
    """n draws of Beta(alpha, alpha) from torch's generator (seeded by the job, on the batch's device)."""
    concentration = torch.full((n,), float(alpha), device=device)
    return torch.distributions.Beta(concentration, concentration).sample()


def _boxes(lam: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One box per image covering ~1 - lam of it, centred at random and clipped to the image (as the
    CutMix paper and timm's rand_bbox): the (N, 1, H, W) mask and each box's true share of the area."""
    n, device = len(lam), lam.device
    cut_h, cut_w = h * torch.sqrt(1 - lam), w * torch.sqrt(1 - lam)
    cy, cx = torch.rand(n, device=device) * h, torch.rand(n, device=device) * w
    top, bottom = (cy - cut_h / 2).clamp(0, h).round(), (cy + cut_h / 2).clamp(0, h).round()
    left, right = (cx - cut_w / 2).clamp(0, w).round(), (cx + cut_w / 2).clamp(0, w).round()
    rows = torch.arange(h, device=device).view(1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, w)
    box = (rows >= top.view(-1, 1, 1)) & (rows < bottom.view(-1, 1, 1))
    box = box & (cols >= left.view(-1, 1, 1)) & (cols < right.view(-1, 1, 1))
    area = (bottom - top) * (right - left) / (h * w)
    return box.unsqueeze(1), area
