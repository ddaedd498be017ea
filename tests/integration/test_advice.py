"""Advice that works: the fix a refusal suggests is accepted by the same config (tested by running it)."""

import re
import socket

import pytest

from helpers import compose_config
from sweeplab.errors import WeightsError
from sweeplab.models.builders import build_model, prepare_backbone
from sweeplab.models.weights import MIRROR_ENV

SUGGESTED = re.compile(r"train from scratch with ((?:model\.\S+=\S+ ?)+)")


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there now: connection refused


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches; every weights host a refused loopback port."""
    from huggingface_hub import constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(MIRROR_ENV, closed_port_url())
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", closed_port_url())


def suggested_fix(message: str) -> list[str]:
    found = SUGGESTED.search(message)
    assert found, message
    return found.group(1).split()


@pytest.mark.parametrize(
    "overrides",
    [
        ["experiment=lab4_resnet101_frozen"],  # frozen: training from scratch must unfreeze it too
        ["model=resnet18", "model.pretrained=true"],
        ["model=torchvision", "model.arch=resnet18", "model.weights=IMAGENET1K_V1"],
        ["model=timm", "model.arch=resnet18", "model.pretrained=true"],
        ["model=timm", "model.arch=resnet18", "model.pretrained=true", "model.freeze_backbone=true"],
        ["experiment=lab4_resnet101_frozen", "model.weights_path=/nonexistent/weights.pth"],
        ["model=timm", "model.arch=resnet18", "model.pretrained=true", "model.weights_path=/nonexistent.pth"],
    ],
)
def test_offline_advice_is_a_command_the_same_config_accepts(overrides, offline):
    cfg = compose_config(overrides)
    with pytest.raises(WeightsError) as info:
        build_model(cfg.model, 2, 64)
    message = str(info.value)
    assert "\n" not in message
    fixed = compose_config([*overrides, *suggested_fix(message)])
    prepare_backbone(fixed.model)  # refuses nothing now
    assert build_model(fixed.model, 2, 64).weights is None


def test_timm_offline_stops_at_once_without_retrying(offline):
    cfg = compose_config(["model=timm", "model.arch=resnet18", "model.pretrained=true"])
    with pytest.raises(WeightsError, match=r"they are not cached and 127\.0\.0\.1:\d+ cannot be reached"):
        build_model(cfg.model, 2, 64)
