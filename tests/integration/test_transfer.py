"""Transfer learning: one model per supported family runs a step, timm, normalisation from the weights,
fine-tuning controls and the frozen backbone's feature cache."""

import logging
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision import models as tv_models

from helpers import compose_config, experiment_ids, frozen_backbone
from helpers.runs import MLFLOW_MODEL_FILES, artifact_paths
from sweeplab.data.augment import IMAGENET_MEAN
from sweeplab.errors import ConfigError, WeightsError
from sweeplab.models import features
from sweeplab.models.builders import UNSUPPORTED, TransferModel, build_model
from sweeplab.models.bundle import exported
from sweeplab.models.packaged import Part
from sweeplab.models.weights import file_sha256
from sweeplab.offline import Predictor
from sweeplab.protocol import Tag
from sweeplab.training import job as job_module
from sweeplab.training.optim import build_optimizer
from sweeplab.training.trainer import Trainer

# One model per torchvision family at a small size (ViT needs its 224 px); docs/models.md lists them.
FAMILIES = [
    ("mobilenet_v3_small", 64),
    ("efficientnet_b0", 64),
    ("resnet18", 64),
    ("regnet_y_400mf", 64),
    ("convnext_tiny", 64),
    ("vit_b_16", 224),
]
TIMM_ARCHS = ["resnet18", "convnext_atto"]


def one_step(model: torch.nn.Module, img_size: int, classes: int = 3) -> None:
    """One SGD step on a batch of 2: the output has one logit per class and the head learns."""
    head_before = model.head.weight.detach().clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    logits = model.train()(torch.randn(2, 3, img_size, img_size))
    assert logits.shape == (2, classes)
    F.cross_entropy(logits, torch.tensor([0, 2])).backward()
    optimizer.step()
    assert not torch.equal(model.head.weight, head_before)


@pytest.mark.parametrize(
    ("arch", "img_size"),
    # ViT at its 224 px: ~2 s, out of the inner loop
    [pytest.param(a, s, marks=pytest.mark.slow) if s >= 224 else (a, s) for a, s in FAMILIES],
)
def test_every_tested_torchvision_family_builds_and_trains_a_step(arch, img_size):
    torch.manual_seed(0)
    model = build_model(compose_config(["model=torchvision", f"model.arch={arch}"]).model, 3, img_size)
    assert isinstance(model, TransferModel) and model.head.out_features == 3
    one_step(model, img_size)


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch", sorted(set(tv_models.list_models(module=tv_models)) - set(UNSUPPORTED) - {a for a, _ in FAMILIES})
)
def test_every_other_torchvision_arch_builds_on_the_meta_device(arch):
    cfg = compose_config(["model=torchvision", f"model.arch={arch}"]).model
    if arch.startswith("regnet"):  # its builder reads tensor values; regnet_y_400mf runs in the fast tier
        pytest.skip("RegNet builders cannot run on the meta device")
    with torch.device("meta"):
        model = build_model(cfg, 3, 224).eval()
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 3)


def test_model_kwargs_reach_the_builder():
    cfg = compose_config(["model=torchvision", "model.arch=efficientnet_b0", "+model.kwargs.dropout=0.5"])
    assert build_model(cfg.model, 2, 32).backbone.classifier[0].p == 0.5
    cfg = compose_config(["model=torchvision", "model.arch=resnet18", "+model.kwargs.nope=1"])
    with pytest.raises(ConfigError, match="model.kwargs=.* are not arguments of resnet18"):
        build_model(cfg.model, 2, 32)


@pytest.fixture
def offline_hf(monkeypatch, tmp_path):
    """timm's Hugging Face hub offline, with an empty cache: any download attempt fails."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "hf"


@pytest.mark.parametrize("arch", TIMM_ARCHS)
def test_timm_models_build_and_train_a_step(arch, offline_hf):
    torch.manual_seed(0)
    cfg = compose_config(["model=timm", f"model.arch={arch}", "+model.kwargs.drop_rate=0.1"]).model
    model = build_model(cfg, 3, 64)
    assert model.weights is None
    one_step(model, 64)


@pytest.mark.slow  # ~3 s: two exports, each traced and checked on another batch size
@pytest.mark.parametrize("arch", TIMM_ARCHS)
def test_timm_models_export_for_the_offline_bundle(arch, offline_hf):
    """What `sweeplab export` runs: the whole Predictor (normalisation, TTA, softmax) through torch.export,
    checked by bundle.exported to predict as the model does on a batch size it was not traced at."""
    torch.manual_seed(0)
    cfg = compose_config(["model=timm", f"model.arch={arch}"]).model
    model = build_model(cfg, 3, 64)
    predictor = Predictor([model], ([0.5] * 3, [0.25] * 3), multilabel=False, tta=["hflip"])
    spec = SimpleNamespace(img_size=64, model={"name": "timm", "arch": arch})
    program = exported(Part(spec, predictor.eval()))
    images = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(images), predictor(images), atol=1e-5, rtol=0)


def test_timm_loads_a_local_weights_file_through_its_own_loader(tmp_path, offline_hf):
    import timm

    torch.manual_seed(3)
    state = timm.create_model("convnext_atto").state_dict()
    path = tmp_path / "convnext_atto.pth"
    torch.save(state, path)
    cfg = compose_config(
        ["model=timm", "model.arch=convnext_atto", "model.pretrained=true", f"model.weights_path={path}"]
    ).model
    model = build_model(cfg, 2, 64)
    assert torch.equal(model.backbone.stem[0].weight, state["stem.0.weight"])
    assert (model.weights.name, model.weights.sha256) == ("convnext_atto.d2_in1k", file_sha256(path))
    assert (model.weights.mean, model.weights.crop_size) == ((0.485, 0.456, 0.406), 224)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (["model.pretrained=true"], WeightsError, "timm cannot load the pretrained weights of convnext_atto"),
        (["model.arch=convnext_atoo"], ConfigError, "model.arch=convnext_atoo is not a timm classification"),
        (
            ["model.weights=nope"],
            ConfigError,
            "model.weights=nope is not a timm tag of convnext_atto; valid:",
        ),
    ],
)
def test_timm_mistakes_and_offline_are_one_line(overrides, error, message, offline_hf):
    cfg = compose_config(["model=timm", "model.arch=convnext_atto", *overrides]).model
    with pytest.raises(error) as info:
        build_model(cfg, 2, 64)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_without_timm_installed_the_error_is_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # what `import timm` sees when it is not installed
    with pytest.raises(ConfigError) as info:
        build_model(compose_config(["model=timm"]).model, 2, 64)
    assert (
        str(info.value) == 'model=timm needs the timm extra: pip install -e ".[timm]" (or pip install timm)'
    )


# --- jobs on the tiny competition with a locally written weights file -----------------------------------


@pytest.fixture
def frozen(tiny_overrides, weights_path) -> list[str]:
    """The lab's frozen-backbone setup, small: a pretrained mobilenet whose head alone trains."""
    return [*frozen_backbone(tiny_overrides, weights_path), "optimizer.lr=1e-2"]


def prepare(overrides: list[str], tmp_path):
    return job_module.prepare(compose_config(overrides), tmp_path / "out", [])


@pytest.mark.parametrize(
    ("normalize", "expected"),
    [
        ("auto", ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])),  # the weights' own, from transforms()
        ("none", None),
        ("imagenet", (IMAGENET_MEAN, [0.229, 0.224, 0.225])),
    ],
)
def test_normalisation_follows_the_weights_unless_set(normalize, expected, frozen, tmp_path, caplog):
    job = prepare([*frozen, f"augmentation.normalize={normalize}"], tmp_path)
    assert any(
        "data.img_size=32 is more than 2x away from the 224 px" in r.getMessage() for r in caplog.records
    )
    stats = job.parts.augment.stats
    assert (stats and [list(s) for s in stats]) == (expected and [list(s) for s in expected])


def test_auto_without_pretrained_weights_is_no_normalisation(tiny_overrides, tmp_path):
    assert prepare(tiny_overrides, tmp_path).parts.augment.stats is None


def test_backbone_lr_scale_gives_the_backbone_its_own_group(frozen, tmp_path):
    cfg = compose_config(["model=torchvision", "optimizer.lr=1e-3", "optimizer.backbone_lr_scale=0.1"])
    model = build_model(cfg.model, 2, 32)
    head, backbone = build_optimizer(cfg.optimizer, model).param_groups
    assert (head["lr"], backbone["lr"]) == (1e-3, pytest.approx(1e-4))
    assert len(head["params"]) == 2 and len(backbone["params"]) == len(list(model.backbone.parameters()))
    frozen_all_run = build_optimizer(cfg.optimizer, model, trains_backbone=False).param_groups
    assert len(frozen_all_run) == 1 and len(frozen_all_run[0]["params"]) == 2


def test_unfreeze_at_epoch_trains_the_head_first_then_everything(frozen, tmp_path):
    job = prepare([*frozen, "model.unfreeze_at_epoch=2", "trainer.epochs=2"], tmp_path)
    assert job.feature_cache == "off"  # not frozen for the whole run
    model = job.parts.model
    weight, bn = model.backbone.features[0][0].weight, model.backbone.features[0][1]
    snapshots = [(weight.detach().clone(), bn.running_mean.clone())]
    trainer = Trainer(job.cfg.trainer, model, job.parts.augment, job.device, unfreeze_at_epoch=2)
    train_epoch = trainer.train_epoch

    def spy(*args, **kwargs):
        metrics = train_epoch(*args, **kwargs)
        snapshots.append((weight.detach().clone(), bn.running_mean.clone()))
        return metrics

    trainer.train_epoch = spy
    trainer.fit(job.data, job.parts.optimizer, None, job.scoring)
    (w0, m0), (w1, m1), (w2, m2) = snapshots
    assert torch.equal(w0, w1) and torch.equal(m0, m1)  # epoch 1: frozen, BatchNorm statistics too
    assert not torch.equal(w1, w2) and not torch.equal(m1, m2)  # epoch 2: everything trains


def metric_history(client, run_id: str) -> dict[str, list[float]]:
    keys = ("train/loss", "val/loss", "val/acc", "kaggle/public")
    return {k: [m.value for m in client.get_metric_history(run_id, k)] for k in keys}


@pytest.mark.slow  # ~3 s: two runs through a backbone
def test_feature_cache_trains_the_head_as_the_frozen_backbone_would(frozen, mlflow_client):
    runs = {}
    for cache in ("true", "true", "false"):
        job_module.run(compose_config([*frozen, f"model.feature_cache={cache}", "trainer.epochs=3"]))
        run = mlflow_client.search_runs(experiment_ids(mlflow_client))[0]
        runs.setdefault(run.data.tags[Tag.FEATURE_CACHE], run)
    assert set(runs) == {"miss", "hit", "off"}
    reference = metric_history(mlflow_client, runs["off"].info.run_id)
    for status in ("miss", "hit"):
        history = metric_history(mlflow_client, runs[status].info.run_id)
        for key, values in reference.items():
            assert np.allclose(history[key], values, rtol=1e-4, atol=1e-6), (status, key)
    tags = runs["hit"].data.tags
    assert tags[Tag.WEIGHTS] == "MobileNet_V3_Small_Weights.IMAGENET1K_V1"
    assert len(tags[Tag.WEIGHTS_SHA256]) == 64 and tags[Tag.INPUT_MEAN] == "[0.485, 0.456, 0.406]"
    # A frozen run logs the head and the backbone's identity, not the backbone's weights.
    artifacts = artifact_paths(mlflow_client, runs["hit"].info.run_id, "model")
    weights = {p for p in artifacts if not p.startswith("model/code/")} - MLFLOW_MODEL_FILES
    assert weights == {"model/head_state_dict.pt", "model/backbone.json"}


@pytest.mark.slow  # ~3 s: feature caches of several configs
def test_feature_cache_key_changes_with_weights_size_normalisation_and_data(frozen, tmp_path, competition):
    def status(*overrides):
        return prepare([*frozen, *overrides], tmp_path).feature_cache

    # 32 px is far from the weights' 224: each prepare also logs that warning
    assert status() == "miss"
    assert status() == "hit"
    assert status("data.img_size=36") == "miss"
    assert status("augmentation.normalize=none") == "miss"
    assert status("augmentation.normalize=imagenet") == "hit"  # the same values as these weights' own
    other = tmp_path / "other.pth"
    torch.manual_seed(2)
    torch.save(tv_models.mobilenet_v3_small().state_dict(), other)
    assert status(f"model.weights_path={other}") == "miss"
    (competition / "train" / "cat" / "0.png").unlink()  # the data changed
    assert status() == "miss"
    assert status() == "hit"


def test_random_augmentation_turns_the_feature_cache_off_and_says_why(frozen, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(features, "_said", set())  # said once per process: this test's process so far
    with caplog.at_level(logging.INFO, logger="sweeplab.models.features"):
        assert prepare([*frozen, "augmentation=flip"], tmp_path).feature_cache == "off"
        assert prepare([*frozen, "augmentation=flip"], tmp_path).feature_cache == "off"
    said = [r.message for r in caplog.records if "feature cache off" in r.message]
    assert said == [
        "feature cache off: the training augmentation is random (hflip=0.5, vflip=0.0), so the "
        "frozen backbone runs on every batch"
    ]


def test_offline_stops_before_the_data_is_read_and_nothing_is_recorded(
    tmp_path, store, mlflow_client, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    overrides = [
        "experiment=lab4_resnet101_frozen",
        f"data.root={tmp_path / 'no-such-competition'}",  # the weights are refused first
        "model.weights_url=http://127.0.0.1:9/",  # the discard port: nothing listens
        f"tracking.uri={store}",
    ]
    with pytest.raises(
        WeightsError, match="cannot download the pretrained weights from http://127.0.0.1:9/res"
    ):
        job_module.run(compose_config(overrides))
    assert mlflow_client.search_experiments(filter_string="name = 'lab4_resnet101_frozen'") == []
