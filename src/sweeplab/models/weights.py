"""Pretrained weights: which file, where it comes from, checked against its name's hash, and its identity.

Load order for torchvision: model.weights_path, else the torch hub cache file, else a download with
torch's own machinery (progress bar, SHA-256 prefix from the file name, as torchvision does). The
URL comes from one function, `weights_url`, so a mirror or a test server can stand in.
"""

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import URLError
from urllib.parse import urlparse

import torch

from sweeplab.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

log = logging.getLogger(__name__)
MIRROR_ENV = "SWEEPLAB_WEIGHTS_MIRROR"  # a base URL holding torchvision's weight files under their names
HASH_CHUNK = 2**20


@dataclass(frozen=True)
class Weights:
    """Pretrained weights as loaded: their identity (recorded on the run) and their preprocessing."""

    name: str  # ResNet50_Weights.IMAGENET1K_V2, or timm's convnext_tiny.in12k_ft_in1k
    path: Path | None  # the file loaded; None where timm's hub cache chose it
    sha256: str | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_size: int  # the side the weights were trained and evaluated at


def wants_weights(cfg) -> bool:
    """Whether model.pretrained / model.weights ask for pretrained weights; contradictions refused."""
    if cfg.weights is not None and cfg.pretrained is False:
        raise ConfigError(
            f"model.pretrained=false but model.weights={cfg.weights}: drop one "
            "(model.weights alone loads those weights)"
        )
    return bool(cfg.pretrained) or cfg.weights is not None


def from_scratch(cfg) -> str:
    """The overrides that train this model config without pretrained weights, in a form it accepts
    (a frozen backbone must train too, and a named weights tag must go)."""
    overrides = ["model.pretrained=false"]
    if cfg.get("weights") is not None:
        overrides.append("model.weights=null")
    if cfg.get("weights_path"):
        overrides.append("model.weights_path=null")
    if cfg.get("freeze_backbone"):
        overrides.append("model.freeze_backbone=false")
    if cfg.get("unfreeze_at_epoch") is not None:
        overrides.append("model.unfreeze_at_epoch=null")
    return " ".join(overrides)


def torchvision_models():
    """torchvision.models, imported on first use: ~1 s of a job's start on two cores that a seed CNN's
    job (no torchvision model, no random crop) does not pay."""
    from torchvision import models

    return models


def torchvision_member(cfg) -> "WeightsEnum":
    """The weights enum member: model.weights, else the arch's default (model.pretrained=true)."""
    enum = torchvision_models().get_model_weights(cfg.arch)
    if cfg.weights is None:
        return enum.DEFAULT
    names = [m.name for m in enum]
    if cfg.weights not in names:
        raise ConfigError(
            f"model.weights={cfg.weights} is not a weights name of model.arch={cfg.arch}; "
            f"valid: {', '.join(names)}"
        )
    member = enum[cfg.weights]
    if cfg.pretrained and member is not enum.DEFAULT:
        raise ConfigError(
            f"model.pretrained=true means {cfg.arch}'s default weights ({enum.DEFAULT.name}) but "
            f"model.weights={cfg.weights}: set only model.weights (model.pretrained=null)"
        )
    return member


def weights_url(default_url: str, override: str | None = None) -> str:
    """Where a weights file comes from: model.weights_url (a full URL, or a base URL that gets the
    file's name), else $SWEEPLAB_WEIGHTS_MIRROR (a base URL), else the library's own URL."""
    if override and Path(urlparse(override).path).suffix:
        return override
    base = override or os.environ.get(MIRROR_ENV)
    if not base:
        return default_url
    return base.rstrip("/") + "/" + Path(urlparse(default_url).path).name


def hub_cache_path(url: str) -> Path:
    """Where torch.hub keeps (and looks for) the file at `url`: $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def hash_prefix(path: Path) -> str | None:
    """The SHA-256 prefix torchvision puts in a weights file's name (resnet18-f37072fd.pth)."""
    match = torch.hub.HASH_REGEX.search(path.name)
    return match.group(1) if match else None


_hashes: dict[tuple[str, int, int], str] = {}  # a sweep hashes each file once per process


def file_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(HASH_CHUNK):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def checked_sha256(path: Path) -> str:
    """The file's SHA-256, refused when it disagrees with the prefix in its name (a corrupted cache file)."""
    sha, prefix = file_sha256(path), hash_prefix(path)
    if prefix and not sha.startswith(prefix):
        raise WeightsError(
            f"the weights file {path} is corrupted (its SHA-256 starts with {sha[: len(prefix)]}, its "
            f"name says {prefix}): delete it (rm {path}) and run again to download it anew"
        )
    return sha


def fetch(url: str, weights_path: str | None, scratch: str = "model.pretrained=false") -> Path:
    """The weights file: model.weights_path, else the hub cache's, else downloaded into the hub cache;
    `scratch` is the advice for training without them (from_scratch)."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"model.weights_path={path} does not exist: point it at a weights file, or drop it to "
                f"use the torch hub cache (downloaded once), or train from scratch with {scratch}"
            )
        return path
    path = hub_cache_path(url)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading pretrained weights %s to %s", url, path)
    try:
        # Written to a temp file beside `path` and renamed: a broken download never looks complete.
        torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix(path), progress=True)
    except (URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise WeightsError(
            f"cannot download the pretrained weights from {url} ({reason}): download that file and put it "
            f"at {path} (or set model.weights_path=FILE, or a mirror with model.weights_url=URL or "
            f"${MIRROR_ENV}), or train from scratch with {scratch}"
        ) from None
    except RuntimeError as e:  # torch.hub's "invalid hash value": the temp file is already removed
        raise WeightsError(
            f"the file downloaded from {url} does not match the SHA-256 prefix in its name "
            f"{path.name} ({e}); nothing was kept: check the URL or the mirror"
        ) from None
    return path


def torchvision_weights(cfg) -> Weights | None:
    """Resolve (and download if need be) the weights cfg asks for; None without pretrained weights."""
    if not wants_weights(cfg):
        return None
    member = torchvision_member(cfg)
    url = weights_url(member.url, cfg.weights_url)
    path = fetch(url, cfg.weights_path, from_scratch(cfg))
    sha = file_sha256(path) if cfg.weights_path else checked_sha256(path)
    transforms = member.transforms()
    return Weights(
        name=f"{type(member).__name__}.{member.name}",
        path=path,
        sha256=sha,
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
        crop_size=int(transforms.crop_size[0]),
    )


def local_identity(cfg) -> tuple[str, Path | None]:
    """The weights' name and the file a run would load now, without downloading (for `sweeplab rerun`)."""
    if cfg.get("name") != "torchvision" or not wants_weights(cfg):
        return "", None
    member = torchvision_member(cfg)
    if cfg.weights_path:
        return f"{type(member).__name__}.{member.name}", Path(cfg.weights_path).expanduser()
    return f"{type(member).__name__}.{member.name}", hub_cache_path(weights_url(member.url, cfg.weights_url))
