"""Pretrained weights: a real download from a local server, the hub cache, checksums, offline, provenance."""

import functools
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torchvision import models as tv_models

from helpers import compose_config
from sweeplab.errors import ConfigError, SweeplabError, WeightsError
from sweeplab.models.builders import build_model, prepare_backbone
from sweeplab.models.weights import MIRROR_ENV, file_sha256, weights_url
from sweeplab.protocol import Tag
from sweeplab.runs.migrate import migrate
from sweeplab.runs.recorded import Recorded
from sweeplab.runs.rerun import weights_differences

ARCH = "mobilenet_v3_small"  # the smallest torchvision file (10 MB): the download path is what is tested
TV_URL = "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth"  # its IMAGENET1K_V1 file


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache; loopback traffic never goes through a proxy."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def server(tmp_path):
    """(folder, base URL): a local HTTP server on a free loopback port serving the folder."""
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now: connection refused


def weights_file(folder: Path, arch: str = ARCH, name: str | None = None, seed: int = 1) -> tuple[Path, dict]:
    """A randomly initialised state_dict saved as a weights file named as torchvision names them."""
    torch.manual_seed(seed)
    state = tv_models.get_model(arch).state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "weights.tmp"
    torch.save(state, tmp)
    path = folder / (name or f"{arch}-{file_sha256(tmp)[:8]}.pth")
    tmp.rename(path)
    return path, state


def model_cfg(*overrides: str):
    return compose_config(["model=torchvision", f"model.arch={ARCH}", *overrides]).model


@pytest.mark.parametrize(
    ("override", "env", "expected"),
    [
        (None, None, TV_URL),
        (None, "http://mirror/models/", "http://mirror/models/mobilenet_v3_small-047dcff4.pth"),
        ("http://lab/w", "http://mirror", "http://lab/w/mobilenet_v3_small-047dcff4.pth"),  # a base URL
        ("http://lab/w/mine-0123abcd.pth", None, "http://lab/w/mine-0123abcd.pth"),  # a full URL
    ],
)
def test_weights_url_is_resolved_in_one_place(override, env, expected, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    if env:
        monkeypatch.setenv(MIRROR_ENV, env)
    assert weights_url(TV_URL, override) == expected


def test_download_from_a_server_into_the_hub_cache_then_reuse_it(hub, server):
    folder, base = server
    served, state = weights_file(folder)
    model = build_model(model_cfg("model.pretrained=true", f"model.weights_url={base}/{served.name}"), 3, 32)
    cached = hub / served.name
    assert cached.read_bytes() == served.read_bytes()
    assert torch.equal(model.backbone.features[0][0].weight, state["features.0.0.weight"])
    assert (model.weights.name, model.weights.sha256) == (
        "MobileNet_V3_Small_Weights.IMAGENET1K_V1",
        file_sha256(served),
    )
    assert model.head.out_features == 3
    # The server is gone; the same URL's file is read from the hub cache (re-hashed, not downloaded).
    served.unlink()
    again = build_model(model_cfg("model.pretrained=true", f"model.weights_url={base}/{served.name}"), 3, 32)
    assert torch.equal(again.backbone.features[0][0].weight, state["features.0.0.weight"])


def test_a_download_that_does_not_match_its_names_hash_is_refused(hub, server, monkeypatch):
    folder, base = server
    weights_file(folder, name="mobilenet_v3_small-047dcff4.pth")  # torchvision's name, other bytes
    monkeypatch.setenv(MIRROR_ENV, base)
    with pytest.raises(WeightsError) as info:
        prepare_backbone(model_cfg("model.pretrained=true"))
    assert f"{base}/mobilenet_v3_small-047dcff4.pth does not match the SHA-256 prefix" in str(info.value)
    assert not list(hub.glob("*"))  # nothing kept, not even the partial file


def test_offline_stops_in_one_line_naming_url_cache_path_and_the_fix(hub):
    base = closed_port_url()
    with pytest.raises(WeightsError) as info:
        prepare_backbone(model_cfg("model.pretrained=true", f"model.weights_url={base}"))
    message = str(info.value)
    assert "\n" not in message
    assert f"from {base}/mobilenet_v3_small-047dcff4.pth" in message
    assert f"put it at {hub / 'mobilenet_v3_small-047dcff4.pth'}" in message
    assert message.endswith("or train from scratch with model.pretrained=false")


def test_a_corrupted_hub_cache_file_is_refused_with_the_path_to_delete(hub):
    path, _ = weights_file(hub)
    with path.open("r+b") as f:
        f.seek(1000)
        f.write(b"\0corrupt\0")
    with pytest.raises(WeightsError) as info:
        prepare_backbone(model_cfg("model.pretrained=true", f"model.weights_url=http://unused/{path.name}"))
    assert f"the weights file {path} is corrupted" in str(info.value)
    assert f"rm {path}" in str(info.value)


def test_weights_path_is_loaded_first_and_hashed(hub, tmp_path):
    path, state = weights_file(tmp_path / "mine", name="anything.pth")
    model = build_model(model_cfg("model.weights=IMAGENET1K_V1", f"model.weights_path={path}"), 2, 32)
    assert torch.equal(model.backbone.features[0][0].weight, state["features.0.0.weight"])
    assert (model.weights.path, model.weights.sha256) == (path, file_sha256(path))
    assert (model.weights.mean, model.weights.crop_size) == ((0.485, 0.456, 0.406), 224)
    assert not hub.exists()  # the hub cache was never touched


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.pretrained=false", "model.weights=IMAGENET1K_V1"], "model.pretrained=false but model."),
        (
            ["model.arch=resnet50", "model.pretrained=true", "model.weights=IMAGENET1K_V1"],
            "model.pretrained=true means resnet50's default weights (IMAGENET1K_V2) but model.weights=",
        ),
        (["model.weights=IMAGENET9K"], "model.weights=IMAGENET9K is not a weights name of model.arch="),
        (["model.arch=efficientnet_b9"], "model.arch=efficientnet_b9 is not a torchvision classification"),
        (["model.arch=googlenet"], "model.arch=googlenet is not supported: it returns auxiliary logits"),
        (["model.freeze_backbone=true"], "model.freeze_backbone=true needs model.pretrained=true"),
        (["model.unfreeze_at_epoch=2"], "model.unfreeze_at_epoch=2 needs model.freeze_backbone=true"),
    ],
)
def test_model_mistakes_are_refused_before_any_download(overrides, message, hub):
    with pytest.raises(ConfigError) as info:
        prepare_backbone(model_cfg(*overrides))
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_unknown_arch_lists_close_names():
    with pytest.raises(ConfigError) as info:
        prepare_backbone(model_cfg("model.arch=efficientnet_b9"))
    assert "close: efficientnet_b0" in str(info.value) or "close: efficientnet_b" in str(info.value)
    assert "torchvision.models.list_models(module=torchvision.models)" in str(info.value)


def test_rerun_warns_when_the_weights_file_differs(hub, tmp_path):
    path, _ = weights_file(tmp_path / "mine", name="mine.pth")
    config = compose_config(["model=torchvision", f"model.arch={ARCH}", "model.pretrained=true"])
    config.model.weights_path = str(path)
    tags = {Tag.WEIGHTS: "MobileNet_V3_Small_Weights.IMAGENET1K_V1", Tag.WEIGHTS_SHA256: file_sha256(path)}
    assert weights_differences(Recorded("r", tags, config)) == []
    weights_file(tmp_path / "other", name="mine.pth", seed=2)[0].replace(path)  # other bytes, same path
    found = weights_differences(Recorded("r", tags, config))
    assert len(found) == 1 and found[0].startswith(f"pretrained weights file {path}: original sha256")
    tags[Tag.WEIGHTS] = "MobileNet_V3_Small_Weights.IMAGENET1K_V0"
    assert (
        "original MobileNet_V3_Small_Weights.IMAGENET1K_V0, now"
        in weights_differences(Recorded("r", tags, config))[0]
    )


def test_a_resnet_config_recorded_before_model_torchvision_still_runs():
    # model: as sweeplab recorded it before #12 (model=resnet50 model.pretrained=true ...)
    recorded = OmegaConf.create(OmegaConf.to_yaml(compose_config([])))  # as config.yaml reads back
    recorded.model = {"name": "resnet50", "pretrained": False, "weights_path": None, "freeze_backbone": False}
    recorded.augmentation.pop("normalize")  # and an augmentation block without the new value
    cfg = migrate(recorded)
    assert (cfg.model.name, cfg.model.arch, cfg.model.kwargs, cfg.model.unfreeze_at_epoch) == (
        "torchvision",
        "resnet50",
        {},
        None,
    )
    assert cfg.augmentation.normalize == "auto" and cfg.optimizer.backbone_lr_scale == 1.0
    with torch.device("meta"):
        assert build_model(cfg.model, 2, 32).head.out_features == 2


def test_every_refusal_is_a_sweeplab_error():
    assert issubclass(WeightsError, SweeplabError)
