"""Seed CNN size arithmetic (torchvision and timm models: test_transfer.py, test_weights.py)."""

import pytest
import torch

from helpers import compose_config
from sweeplab.errors import ConfigError
from sweeplab.models.builders import build_model, exact_sizes, seed_cnn_flatten_size

LAB = [8, 16, 32, 64, 128, 256]


@pytest.mark.parametrize(
    ("img_size", "channels", "flatten"),
    [
        (444, LAB, 2304),  # the lab's hand-computed 3*3*256
        (316, LAB, 256),  # smallest size 6 blocks accept: 1x1x256
        (380, LAB, 2 * 2 * 256),
        (447, LAB, 2304),  # pools floor odd sides: 447 -> ... -> 3
        (48, [16, 32, 64], 2 * 2 * 64),
        (16, [4, 8], 8),
        (224, [8, 16, 32, 64], 10 * 10 * 64),
    ],
)
def test_flatten_size(img_size, channels, flatten):
    assert seed_cnn_flatten_size(img_size, channels, 5) == flatten
    cfg = compose_config(["model=seed_cnn", f"model.channels={channels}"])
    model = build_model(cfg.model, num_classes=2, img_size=img_size).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, img_size, img_size)).shape == (1, 2)


@pytest.mark.parametrize(
    ("img_size", "channels", "message"),
    [
        (
            315,
            LAB,
            "block 6 would output 0x0 px. Use data.img_size >= 316 (sizes where every pool divides "
            "evenly: 316, 380, 444",
        ),
        (100, LAB, "block 5 would output 0x0 px"),
        (32, [16, 32, 64], "data.img_size >= 36"),
        (4, [4], "block 1 would output 0x0 px. Use data.img_size >= 6"),
    ],
)
def test_too_small_img_size_is_refused(img_size, channels, message):
    with pytest.raises(ConfigError) as info:
        seed_cnn_flatten_size(img_size, channels, 5)
    assert message in str(info.value)
    assert f"data.img_size={img_size}" in str(info.value)


def test_exact_sizes_table():
    assert exact_sizes(6, 5) == [316, 380, 444]
    assert exact_sizes(3, 5) == [36, 44, 52]
    assert exact_sizes(2, 3, count=2) == [10, 14]


def test_freeze_without_pretrained_is_refused():
    cfg = compose_config(["model=resnet18", "model.freeze_backbone=true"])
    with pytest.raises(ConfigError, match="model.pretrained=true"):
        build_model(cfg.model, num_classes=2, img_size=32)
