"""The offline default model and the ways of loading others."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine import ModelError


def test_default_model_recognises_the_sample_photos(default_net):
    cat = default_net.predict(cw.sample_image("cat"), k=5)
    assert cat[0].index == 285 and cat[0].label == "Egyptian cat"
    assert 0.6 < cat[0].prob < 0.9  # DESIGN.md: p ~ 0.77
    coffee = default_net.predict(cw.sample_image("coffee"), k=1)
    assert coffee[0].index == 967 and coffee[0].label == "espresso"
    assert sum(p.prob for p in cat) <= 1.0 + 1e-6 and [p.prob for p in cat] == sorted(
        (p.prob for p in cat), reverse=True
    )


def test_prediction_leaves_the_model_untouched(default_net):
    default_net.model.train()
    try:
        default_net.predict(cw.sample_image("cat"))
        assert all(m.training for m in default_net.model.modules())
    finally:
        default_net.model.eval()


def test_unknown_name_lists_choices():
    with pytest.raises(ModelError, match=r"unknown model 'resnt18'.*resnet18"):
        cw.load_model("resnt18")


def test_failed_download_points_to_the_offline_default(monkeypatch):
    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ModelError, match=r"cw\.load_model\(\) for the offline default.*pretrained=False"):
        cw.load_model("resnet18")


def test_checkpoint_round_trip_with_wrappers(tmp_path):
    torch.manual_seed(1)
    source = cw.load_model("resnet18", pretrained=False)
    state = {"module." + k: v for k, v in source.model.state_dict().items()}  # as saved from DataParallel
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": state, "epoch": 3}, path)
    net = cw.load_model(path, arch="resnet18")
    for (k, a), b in zip(source.model.state_dict().items(), net.model.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ModelError, match="arch='resnet18'"):
        cw.load_model(path)
    with pytest.raises(ModelError, match="does not fit"):
        cw.load_model(path, arch="squeezenet1_1")


def test_pickled_module_is_refused_by_weights_only(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 4, 3)), path)
    with pytest.raises(ModelError, match="weights-only"):
        cw.load_model(path, arch=nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_own_module_keeps_its_device_and_gets_generic_labels():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 7))
    net = cw.load_model(model)
    assert net.model is model and net.device == torch.device("cpu")
    preds = net.predict(cw.sample_image("cat"), k=3)
    assert len(preds) == 3 and preds[0].label == f"class {preds[0].index}" and net.num_classes == 7
