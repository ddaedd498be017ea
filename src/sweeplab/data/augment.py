"""The `augmentation` config group: random transforms drawn per image but applied to whole batches."""

import torch
from hydra.utils import instantiate

from sweeplab.data.mixing import BatchMix
from sweeplab.errors import ConfigError
from sweeplab.offline import Stats

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
NORMALIZE_CHOICES = ("none", "dataset", "imagenet", "auto")


def is_random(cfg) -> str | None:
    """Why the training augmentation is random (e.g. "hflip=0.5"), or None when it is deterministic."""
    if cfg.hflip or cfg.vflip:
        return f"hflip={cfg.hflip}, vflip={cfg.vflip}"
    if cfg.crop_scale_min < 1.0:
        return f"crop_scale_min={cfg.crop_scale_min}"
    if cfg.transforms:
        return f"{len(cfg.transforms)} extra transforms"
    if cfg.get("mixup_alpha") or cfg.get("cutmix_alpha"):
        return f"mixup_alpha={cfg.get('mixup_alpha')}, cutmix_alpha={cfg.get('cutmix_alpha')}"
    return None


class BatchAugment:
    """uint8 batch on the device -> float batch; train mode adds the random transforms.

    `stats` are the mean/std that normalize=dataset (the training images') or normalize=auto (the
    pretrained weights'; None: no normalisation) stand for; imagenet and none need none.
    """

    def __init__(self, cfg, stats: Stats | None, device: torch.device):
        if cfg.normalize not in NORMALIZE_CHOICES:
            raise ConfigError(
                f"augmentation.normalize={cfg.normalize!r} is unknown; valid: {', '.join(NORMALIZE_CHOICES)}"
            )
        for key in ("hflip", "vflip"):
            if not 0.0 <= cfg[key] <= 1.0:
                raise ConfigError(f"augmentation.{key}={cfg[key]} is a probability: use a value in [0, 1]")
        if not 0.0 < cfg.crop_scale_min <= 1.0:
            raise ConfigError(
                f"augmentation.crop_scale_min={cfg.crop_scale_min} must be in (0, 1]; 1.0 turns cropping off"
            )
        self.hflip, self.vflip = cfg.hflip, cfg.vflip
        self.mix = BatchMix.from_cfg(cfg)  # images and labels together: the trainer applies it
        self.crop_scale_min = cfg.crop_scale_min
        self.log_ratio = torch.log(torch.tensor(list(cfg.crop_ratio), dtype=torch.float32))
        try:
            self.extra = [instantiate(t) for t in cfg.transforms]
        except Exception as e:  # a bad _target_ or argument: name the key, not Hydra's internals
            raise ConfigError(f"augmentation.transforms cannot be built: {e}") from e
        stats = {"dataset": stats, "auto": stats, "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}.get(
            cfg.normalize
        )
        self.stats = stats
        self.mean = self.std = None
        if stats is not None:
            self.mean = torch.tensor(stats[0], device=device).view(1, 3, 1, 1)
            self.std = torch.tensor(stats[1], device=device).view(1, 3, 1, 1)

    def __call__(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        x = images.float().div_(255.0)
        if train:
            if self.crop_scale_min < 1.0:
                x = self._random_resized_crop(x)
            if self.hflip:
                x = torch.where(self._coin(x, self.hflip), x.flip(-1), x)
            if self.vflip:
                x = torch.where(self._coin(x, self.vflip), x.flip(-2), x)
            if self.extra:  # arbitrary torchvision transforms cannot be batched: one image at a time
                x = torch.stack([self._apply_extra(image) for image in x])
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def _apply_extra(self, image: torch.Tensor) -> torch.Tensor:
        for transform in self.extra:
            image = transform(image)
        return image

    @staticmethod
    def _coin(x: torch.Tensor, p: float) -> torch.Tensor:
        return (torch.rand(x.shape[0], device=x.device) < p).view(-1, 1, 1, 1)

    def _random_resized_crop(self, x: torch.Tensor) -> torch.Tensor:
        """One random box per image (area and aspect as torchvision's), all resized back in one call."""
        n, _, h, w = x.shape
        area = torch.empty(n, device=x.device).uniform_(self.crop_scale_min, 1.0) * h * w
        log_ratio = self.log_ratio.to(x.device)
        ratio = torch.exp(torch.empty(n, device=x.device).uniform_(float(log_ratio[0]), float(log_ratio[1])))
        box_w = torch.sqrt(area * ratio).clamp(1, w)
        box_h = torch.sqrt(area / ratio).clamp(1, h)
        x0 = torch.rand(n, device=x.device) * (w - box_w)
        y0 = torch.rand(n, device=x.device) * (h - box_h)
        boxes = torch.stack(
            [torch.arange(n, device=x.device, dtype=x.dtype), x0, y0, x0 + box_w, y0 + box_h], 1
        )
        from torchvision.ops import roi_align  # torchvision takes ~1 s to import: only when cropping

        return roi_align(x, boxes, output_size=(h, w), spatial_scale=1.0, sampling_ratio=2, aligned=True)
