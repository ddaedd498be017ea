"""Mixup and CutMix drawn per image on whole batches (issue #31): what each image becomes, the weight of
its own label, and the loss of the mixed soft target for single- and multi-label data."""

import pytest
import torch
import torch.nn.functional as F

from sweeplab.data.mixing import BatchMix
from sweeplab.errors import ConfigError
from sweeplab.training.trainer import training_loss

N, H, W = 64, 8, 10


def constant_images() -> torch.Tensor:
    """Image i is i everywhere: what a mixed pixel holds says whose it is."""
    return torch.arange(N, dtype=torch.float32).view(N, 1, 1, 1).expand(N, 3, H, W).clone()


def test_mixup_blends_each_image_with_its_partner_at_its_own_weight():
    torch.manual_seed(0)
    x = constant_images()
    mixed = BatchMix(0.4, 0.0, 0.5, None)(x)
    expected = mixed.own.view(-1, 1, 1, 1) * x + (1 - mixed.own.view(-1, 1, 1, 1)) * x[mixed.partner]
    torch.testing.assert_close(mixed.images, expected)
    alone = mixed.own == 1.0
    assert 10 < int(alone.sum()) < 54  # mix_prob 0.5: about half left alone
    assert len(set(mixed.own[~alone].tolist())) == int((~alone).sum())  # a weight drawn per image


def test_cutmix_pastes_a_box_of_the_partner_whose_area_is_the_partners_weight():
    torch.manual_seed(1)
    x = constant_images()
    mixed = BatchMix(0.0, 1.0, 1.0, None)(x)
    own_pixels = (mixed.images == x).all(1).flatten(1).float().mean(1)
    partner_pixels = (mixed.images == x[mixed.partner]).all(1).flatten(1).float().mean(1)
    distinct = mixed.partner != torch.arange(N)
    torch.testing.assert_close(own_pixels[distinct], mixed.own[distinct])
    torch.testing.assert_close(partner_pixels[distinct], 1 - mixed.own[distinct])
    assert (mixed.own < 1).sum() > N // 2  # boxes of every size, most of them not empty


def test_with_both_on_each_mixed_image_takes_one_of_them():
    torch.manual_seed(2)
    x = constant_images()
    mixed = BatchMix(1.0, 1.0, 1.0, None)(x)
    pure = ((mixed.images == x) | (mixed.images == x[mixed.partner])).all(1).flatten(1).all(1)
    assert 10 < int(pure.sum()) < 54  # CutMix keeps pixels pure; Mixup blends them


def test_the_same_seed_mixes_the_same_way():
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(BatchMix(0.2, 1.0, 0.8, 2)(constant_images()))
    assert torch.equal(runs[0].images, runs[1].images) and torch.equal(runs[0].own, runs[1].own)
    assert BatchMix(0.2, 0.0, 1.0, 2).active(2) and not BatchMix(0.2, 0.0, 1.0, 2).active(3)


def test_the_mixed_loss_is_the_loss_of_the_mixed_soft_target():
    torch.manual_seed(4)
    logits, y = torch.randn(N, 5), torch.randint(0, 5, (N,))
    mixed = BatchMix(0.4, 0.0, 1.0, None)(constant_images())
    target = mixed.own.view(-1, 1) * F.one_hot(y, 5) + (1 - mixed.own.view(-1, 1)) * F.one_hot(
        y[mixed.partner], 5
    )
    smoothed = target * 0.9 + 0.1 / 5
    expected = -(smoothed * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(training_loss(logits, y, False, 0.1, mixed), expected)
    tags = torch.randint(0, 2, (N, 5))
    soft = mixed.own.view(-1, 1) * tags + (1 - mixed.own.view(-1, 1)) * tags[mixed.partner]
    expected = F.binary_cross_entropy_with_logits(logits, soft)
    torch.testing.assert_close(training_loss(logits, tags, True, 0.0, mixed), expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((-0.1, 0.0, 1.0, None), "augmentation.mixup_alpha=-0.1 must be >= 0"),
        ((0.2, -1.0, 1.0, None), "augmentation.cutmix_alpha=-1.0 must be >= 0"),
        ((0.2, 0.0, 1.5, None), "augmentation.mix_prob=1.5 is a probability: use a value in [0, 1]"),
        ((0.2, 0.0, 1.0, 0), "augmentation.mix_until_epoch=0 must be an epoch >= 1, or null for every epoch"),
    ],
)
def test_bad_mixing_values_are_refused_in_one_line(arguments, message):
    with pytest.raises(ConfigError) as info:
        BatchMix(*arguments)
    assert message in str(info.value) and "\n" not in str(info.value)
