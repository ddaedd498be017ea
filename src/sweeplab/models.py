"""The `model` config group: the lab's seed CNN and torchvision ResNets with a new head."""

from pathlib import Path

import torch
from torch import nn
from torchvision import models as tv_models

from sweeplab.errors import ConfigError

POOL = 2


def block_sizes(img_size: int, n_blocks: int, kernel_size: int) -> list[int]:
    """Output side length of each conv(k, no padding) -> maxpool(2) block."""
    sizes, side = [], img_size
    for _ in range(n_blocks):
        side = (side - kernel_size + 1) // POOL
        sizes.append(side)
    return sizes


def exact_sizes(n_blocks: int, kernel_size: int, count: int = 3) -> list[int]:
    """The smallest img_sizes at which every pool divides evenly (the lab's 444 -> ... -> 3 is one).

    Working back from a final side f: side = P^n * f + (k - 1) * (P^n - 1) / (P - 1). The first
    (f = 1) is also the smallest valid size: below it some block outputs less than one pixel.
    """
    scale = POOL**n_blocks
    return [scale * f + (kernel_size - 1) * (scale - 1) // (POOL - 1) for f in range(1, count + 1)]


def seed_cnn_flatten_size(img_size: int, channels: list[int], kernel_size: int) -> int:
    """Inputs of the first linear layer; refuses sizes that shrink a block below 1 pixel."""
    sizes = block_sizes(img_size, len(channels), kernel_size)
    for block, side in enumerate(sizes, start=1):
        if side < 1:
            valid, out = exact_sizes(len(channels), kernel_size), max(side, 0)
            raise ConfigError(
                f"data.img_size={img_size} is too small for model.channels ({len(channels)} blocks of "
                f"conv{kernel_size} + maxpool{POOL}): block {block} would output {out}x{out} px. "
                f"Use data.img_size >= {valid[0]} (sizes where every pool divides evenly: "
                f"{', '.join(map(str, valid))}, ...), or fewer blocks in model.channels"
            )
    return channels[-1] * sizes[-1] ** 2


def check_model(cfg, img_size: int) -> None:
    """What can be refused from the config alone, before any image is decoded."""
    if cfg.name == "seed_cnn":
        seed_cnn_flatten_size(img_size, list(cfg.channels), cfg.kernel_size)


def build_seed_cnn(cfg, num_classes: int, img_size: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for out_channels in cfg.channels:
        layers += [
            nn.Conv2d(in_channels, out_channels, kernel_size=cfg.kernel_size),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(POOL),
        ]
        in_channels = out_channels
    layers.append(nn.Flatten())
    width = seed_cnn_flatten_size(img_size, list(cfg.channels), cfg.kernel_size)
    for hidden in cfg.fc:
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        if cfg.dropout:
            layers.append(nn.Dropout(cfg.dropout))
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


RESNETS = {
    "resnet18": (tv_models.resnet18, tv_models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet50": (tv_models.resnet50, tv_models.ResNet50_Weights.IMAGENET1K_V2),
    "resnet101": (tv_models.resnet101, tv_models.ResNet101_Weights.IMAGENET1K_V2),
}


def pretrained_weights_path(cfg) -> Path:
    if cfg.weights_path:
        return Path(cfg.weights_path).expanduser()
    _, weights = RESNETS[cfg.name]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


class FrozenBackbone(nn.Module):
    """A fixed feature extractor (kept in eval mode, so BatchNorm statistics stay too) and a trained head."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head
        self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> "FrozenBackbone":
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build_resnet(cfg, num_classes: int) -> nn.Module:
    constructor, _ = RESNETS[cfg.name]
    model = constructor(weights=None)
    if cfg.pretrained:
        path = pretrained_weights_path(cfg)
        if not path.is_file():
            raise ConfigError(
                f"model.pretrained=true but {path} does not exist (nothing is downloaded): copy the "
                f"ImageNet weights there, set model.weights_path=/path/to/weights.pth, "
                "or set model.pretrained=false"
            )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    elif cfg.freeze_backbone:
        raise ConfigError(
            "model.freeze_backbone=true needs model.pretrained=true: a random backbone would stay random"
        )
    head = nn.Linear(model.fc.in_features, num_classes)
    if cfg.freeze_backbone:
        model.fc = nn.Identity()
        return FrozenBackbone(model, head)
    model.fc = head
    return model


def build_model(cfg, num_classes: int, img_size: int) -> nn.Module:
    """The network named by model.name, sized for the data's classes and image size."""
    if cfg.name == "seed_cnn":
        return build_seed_cnn(cfg, num_classes, img_size)
    if cfg.name in RESNETS:
        return build_resnet(cfg, num_classes)
    raise ConfigError(f"model.name={cfg.name!r} is unknown; valid: seed_cnn, {', '.join(RESNETS)}")
