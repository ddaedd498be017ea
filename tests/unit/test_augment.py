"""Batch augmentation: random per image, applied to the whole batch at once."""

import pytest
import torch

from helpers import compose_config
from sweeplab.data.augment import IMAGENET_MEAN, BatchAugment
from sweeplab.errors import ConfigError

CPU = torch.device("cpu")


def augment(*overrides, stats=None):
    return BatchAugment(compose_config(list(overrides)).augmentation, stats, CPU)


def striped_batch(n=64, size=8) -> torch.Tensor:
    """Left half black, right half white: a flip is visible in every image."""
    x = torch.zeros(n, 3, size, size, dtype=torch.uint8)
    x[..., size // 2 :] = 255
    return x


def test_none_only_scales_to_unit_range():
    x = striped_batch()
    out = augment("augmentation=none")(x, train=True)
    assert out.dtype == torch.float32 and torch.equal(out, x.float() / 255)


def test_flip_is_drawn_per_image_and_only_in_training():
    torch.manual_seed(0)
    x = striped_batch()
    flip = augment("augmentation=flip")
    out = flip(x, train=True)
    flipped = out[:, 0, 0, 0] == 1.0  # the left edge turned white
    assert 10 < flipped.sum() < 54  # about half of 64, not all or none
    assert torch.equal(out[flipped], x[flipped].flip(-1).float() / 255)
    assert torch.equal(flip(x, train=False), x.float() / 255)


def test_random_resized_crop_keeps_shape_and_varies_per_image():
    torch.manual_seed(0)
    x = torch.arange(16 * 16, dtype=torch.float32).view(1, 1, 16, 16).expand(32, 3, 16, 16)
    out = augment("augmentation=standard", "augmentation.normalize=none", "augmentation.hflip=0")(
        x.to(torch.uint8), train=True
    )
    assert out.shape == (32, 3, 16, 16)
    assert len({round(float(image.mean()), 4) for image in out}) > 16  # different boxes per image


def test_normalize_with_dataset_and_imagenet_stats():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = augment("augmentation=normalize", stats=([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]))(x, train=False)
    assert torch.allclose(out, torch.full_like(out, 2.0))
    out = augment("augmentation.normalize=imagenet")(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), train=False)
    assert out[0, 0, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[0] / 0.229)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("augmentation.hflip=1.5", "augmentation.hflip=1.5 is a probability"),
        ("augmentation.crop_scale_min=0", "augmentation.crop_scale_min=0.0 must be in (0, 1]"),
        (
            "augmentation.transforms=[{_target_: torchvision.transforms.v2.NoSuchThing}]",
            "augmentation.transforms cannot be built",
        ),
    ],
)
def test_bad_augmentation_values(override, message):
    with pytest.raises(ConfigError) as info:
        augment(override)
    assert message in str(info.value)
