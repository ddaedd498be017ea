"""The `model` config group: the lab's seed CNN, and any torchvision or timm model with a new head."""

import difflib
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import torch
from torch import nn

from sweeplab.errors import ConfigError, WeightsError
from sweeplab.models.weights import (
    Weights,
    file_sha256,
    from_scratch,
    hub_cache_path,
    torchvision_member,
    torchvision_models,
    torchvision_weights,
    wants_weights,
)

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


# torchvision models whose output or classifier is not "features -> one linear layer": refused by name.
UNSUPPORTED = {
    "googlenet": "it returns auxiliary logits while training",
    "inception_v3": "it returns auxiliary logits while training",
    "squeezenet1_0": "its classifier is a convolution",
    "squeezenet1_1": "its classifier is a convolution",
}
# Old DenseNet files name layers norm.1 where the model says norm1 (torchvision remaps them the same way).
DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


class TransferModel(nn.Module):
    """A library's model without its classifier (the backbone) and a new linear head for the data's classes.

    While frozen the backbone takes no gradients and stays in eval mode, so BatchNorm statistics (and
    dropout) stay as pretrained; `set_frozen(False)` lets everything train (model.unfreeze_at_epoch).
    """

    def __init__(self, backbone: nn.Module, head: nn.Linear, *, frozen: bool, weights: Weights | None):
        super().__init__()
        self.backbone, self.head, self.weights = backbone, head, weights
        self.set_frozen(frozen)

    def set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        self.backbone.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> "TransferModel":
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def import_timm():
    try:
        import timm
    except ImportError:
        raise ConfigError(
            'model=timm needs the timm extra: pip install -e ".[timm]" (or pip install timm)'
        ) from None
    return timm


def _unknown_arch(arch: str, known: list[str], library: str, listing: str) -> ConfigError:
    close = difflib.get_close_matches(arch, known, n=5, cutoff=0.5)
    hint = f"close: {', '.join(close)}; " if close else ""
    return ConfigError(f"model.arch={arch} is not a {library} classification model; {hint}all: {listing}")


def check_arch(cfg) -> None:
    """model.arch (an open set) against the library's model list, before any image is read."""
    if cfg.name == "torchvision":
        if cfg.arch in UNSUPPORTED:
            raise ConfigError(f"model.arch={cfg.arch} is not supported: {UNSUPPORTED[cfg.arch]}")
        tv_models = torchvision_models()
        known = tv_models.list_models(module=tv_models)
        if cfg.arch not in known:
            raise _unknown_arch(
                cfg.arch, known, "torchvision", "torchvision.models.list_models(module=torchvision.models)"
            )
        return
    timm = import_timm()
    if not timm.is_model(cfg.arch):
        raise _unknown_arch(cfg.arch, timm.list_models(), "timm", "timm.list_models()")
    if cfg.weights is not None and not timm.list_pretrained(f"{cfg.arch}.{cfg.weights}"):
        tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{cfg.arch}.*")]
        raise ConfigError(
            f"model.weights={cfg.weights} is not a timm tag of {cfg.arch}; valid: {', '.join(tags)}"
        )
    if cfg.weights_url:
        raise ConfigError(
            "model.weights_url applies to torchvision weights; timm downloads through the Hugging Face hub "
            "(set HF_ENDPOINT for a mirror, or model.weights_path=FILE)"
        )


def prepare_backbone(cfg) -> Weights | None:
    """Check a torchvision/timm model config and fetch torchvision weights (downloaded once)."""
    check_arch(cfg)
    pretrained = wants_weights(cfg)
    if cfg.freeze_backbone and not pretrained:
        raise ConfigError(
            "model.freeze_backbone=true needs model.pretrained=true: a random backbone would stay random"
        )
    if cfg.unfreeze_at_epoch is not None and (not cfg.freeze_backbone or cfg.unfreeze_at_epoch < 1):
        raise ConfigError(
            f"model.unfreeze_at_epoch={cfg.unfreeze_at_epoch} needs model.freeze_backbone=true and an "
            "epoch >= 1: the head trains alone before that epoch, everything from it on"
        )
    return torchvision_weights(cfg) if cfg.name == "torchvision" else None


def _last_linear(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """The classifier: the last linear layer the model registers (fc, classifier[-1], heads.head, ...)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ConfigError(f"{type(model).__name__} has no linear classifier to replace")
    parent, _, leaf = names[-1].rpartition(".")
    module = model.get_submodule(parent)
    return module, leaf, getattr(module, leaf)


def _torchvision_state_dict(cfg, weights: Weights) -> dict:
    state = torch.load(weights.path, map_location="cpu", weights_only=True)
    if cfg.arch.startswith("densenet"):
        state = {DENSENET_KEY.sub(r"\1\2", k): v for k, v in state.items()}
    return state


def build_torchvision(cfg, num_classes: int, load_weights: bool = True) -> TransferModel:
    """load_weights=False: the pretrained weights' architecture (their class count, ViT's image size)
    without reading them, for a state_dict that holds every weight (a logged model)."""
    if load_weights:
        weights = prepare_backbone(cfg)
    else:
        check_arch(cfg)
        weights = None
    kwargs = dict(cfg.kwargs)
    if wants_weights(cfg):
        member = torchvision_member(cfg)
        kwargs["num_classes"] = len(member.meta["categories"])
        if cfg.arch.startswith("vit_"):  # ViT's position embedding is sized for the weights' image size
            kwargs["image_size"] = member.meta["min_size"][0]
    try:
        model = torchvision_models().get_model(cfg.arch, weights=None, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model.kwargs={dict(cfg.kwargs)} are not arguments of {cfg.arch}: {e}") from e
    if weights is not None:
        model.load_state_dict(_torchvision_state_dict(cfg, weights))
    parent, name, classifier = _last_linear(model)
    setattr(parent, name, nn.Identity())
    head = nn.Linear(classifier.in_features, num_classes)
    return TransferModel(model, head, frozen=cfg.freeze_backbone, weights=weights)


def _timm_weights(cfg, model: nn.Module) -> Weights:
    pretrained_cfg = model.pretrained_cfg
    path = Path(cfg.weights_path).expanduser() if cfg.weights_path else None
    if path is None and pretrained_cfg.get("hf_hub_id"):
        from huggingface_hub import try_to_load_from_cache  # installed with timm

        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(pretrained_cfg["hf_hub_id"], filename)
            if isinstance(found, str):
                path = Path(found)
                break
    return Weights(
        name=f"{pretrained_cfg.get('architecture', cfg.arch)}.{pretrained_cfg.get('tag')}",
        path=path,
        sha256=file_sha256(path) if path is not None else None,
        mean=tuple(pretrained_cfg["mean"]),
        std=tuple(pretrained_cfg["std"]),
        crop_size=int(pretrained_cfg["input_size"][-1]),
    )


HUB_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm reads from a Hugging Face repo
PROBE_TIMEOUT_S = 3  # a reachable hub answers a TCP connect in well under a second


def _check_hub(timm, name: str, cfg) -> None:
    """Weights that are not cached need their host: said at once when it cannot be reached, instead of
    after huggingface_hub's five retries (about 60 s, a warning each)."""
    from huggingface_hub import constants, try_to_load_from_cache

    pretrained_cfg = timm.models.get_pretrained_cfg(name)
    hub_id = getattr(pretrained_cfg, "hf_hub_id", None)
    if hub_id and any(isinstance(try_to_load_from_cache(hub_id, f), str) for f in HUB_FILES):
        return
    url = constants.ENDPOINT if hub_id else getattr(pretrained_cfg, "url", None)
    if not url or (not hub_id and hub_cache_path(url).is_file()):
        return
    problem = "HF_HUB_OFFLINE is set" if hub_id and constants.HF_HUB_OFFLINE else _unreachable(url)
    if problem is not None:
        raise WeightsError(
            f"timm cannot load the pretrained weights of {name}: they are not cached and {problem}; "
            f"run once with network access (they go to the Hugging Face cache {constants.HF_HUB_CACHE}), "
            f"set model.weights_path=FILE, or train from scratch with {from_scratch(cfg)}"
        )


def _unreachable(url: str) -> str | None:
    """Why the URL's host cannot be reached (one TCP connect), or None when it answers."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        return f"{parts.hostname}:{port} cannot be reached ({e.strerror or e})"
    return None


def build_timm(cfg, num_classes: int, load_weights: bool = True) -> TransferModel:
    """timm.create_model with timm's own weight loading; num_classes=0 is timm's pooled-features model."""
    if load_weights:
        prepare_backbone(cfg)
    else:
        check_arch(cfg)
    timm = import_timm()
    pretrained = wants_weights(cfg) and load_weights
    name = f"{cfg.arch}.{cfg.weights}" if cfg.weights else cfg.arch
    extra = (
        {"pretrained_cfg_overlay": {"file": str(Path(cfg.weights_path).expanduser())}}
        if cfg.weights_path
        else {}
    )
    if pretrained and cfg.weights_path and not Path(extra["pretrained_cfg_overlay"]["file"]).is_file():
        raise WeightsError(
            f"model.weights_path={cfg.weights_path} does not exist; or train from scratch with "
            f"{from_scratch(cfg)}"
        )
    if pretrained and not cfg.weights_path:
        _check_hub(timm, name, cfg)
    try:
        backbone = timm.create_model(name, pretrained=pretrained, num_classes=0, **extra, **cfg.kwargs)
    except TypeError as e:
        raise ConfigError(f"model.kwargs={dict(cfg.kwargs)} are not arguments of {cfg.arch}: {e}") from e
    except Exception as e:  # the Hugging Face hub offline, or a file that does not fit the model
        if not pretrained:
            raise
        from huggingface_hub.constants import HF_HUB_CACHE

        raise WeightsError(
            f"timm cannot load the pretrained weights of {name} "
            f"({type(e).__name__}: {str(e).splitlines()[0]}): "
            f"run once with network access (they go to the Hugging Face cache {HF_HUB_CACHE}), set "
            f"model.weights_path=FILE, or train from scratch with {from_scratch(cfg)}"
        ) from None
    width = getattr(backbone, "head_hidden_size", None) or backbone.num_features
    weights = _timm_weights(cfg, backbone) if pretrained else None
    return TransferModel(backbone, nn.Linear(width, num_classes), frozen=cfg.freeze_backbone, weights=weights)


def build_model(cfg, num_classes: int, img_size: int, load_weights: bool = True) -> nn.Module:
    """The network model.name names, sized for the data's classes and image size; load_weights=False
    leaves a pretrained backbone's weights unread (a logged model's state_dict holds them all)."""
    if cfg.name == "seed_cnn":
        return build_seed_cnn(cfg, num_classes, img_size)
    if cfg.name == "torchvision":
        return build_torchvision(cfg, num_classes, load_weights)
    if cfg.name == "timm":
        return build_timm(cfg, num_classes, load_weights)
    raise ConfigError(f"model.name={cfg.name!r} is unknown; valid: seed_cnn, torchvision, timm")
