"""Layer records: output shapes and receptive fields against hand-computed values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz_widgets import engine
from cnnviz_widgets.engine import LayerError

from .conftest import flags, hook_count


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, padding=1)
        self.skip = nn.Conv2d(8, 16, 1)

    def forward(self, x):
        return self.conv(x) + self.skip(x)  # functional residual add


class Small(nn.Module):
    """Functional ReLU, a reused module, a residual add, asymmetric F.pad, stride and dilation."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.block = Block()
        self.conv3 = nn.Conv2d(16, 4, 5, stride=2)
        self.conv4 = nn.Conv2d(4, 4, 3, dilation=2, padding=2)
        self.act = nn.ReLU()  # reused twice
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.act(self.block(x))
        x = F.pad(x, (1, 2, 1, 2))  # left 1, right 2, top 1, bottom 2
        x = self.act(self.conv4(self.conv3(x)))
        return self.fc(x.mean(dim=(2, 3)))


# Hand computation, per axis: size r, stride j, offset o (input-pixel centre of unit 0's field).
#   conv1 3x3 p1:        r = 1 + 2*1 = 3,  j = 1, o = 0 + (1 - 1)*1 = 0
#   pool 2x2 s2:         r = 3 + 1*1 = 4,  j = 2, o = 0 + (0.5 - 0)*1 = 0.5
#   block.conv 3x3 p1:   r = 4 + 2*2 = 8,  j = 2, o = 0.5
#   block.skip 1x1:      r = 4,            j = 2, o = 0.5
#   block = conv + skip: union of [-3, 4] and [-1, 2] = [-3, 4] -> r = 8, o = 0.5
#   F.pad top/left 1:    o = 0.5 - 1*2 = -1.5
#   conv3 5x5 s2 p0:     r = 8 + 4*2 = 16, j = 4, o = -1.5 + 2*2 = 2.5
#   conv4 3x3 d2 p2:     r = 16 + 2*2*4 = 32, j = 4, o = 2.5 + (2 - 2)*4 = 2.5
EXPECTED = {
    "conv1": ((8, 32, 32), 3, 1, 0.0),
    "pool": ((8, 16, 16), 4, 2, 0.5),
    "block.conv": ((16, 16, 16), 8, 2, 0.5),
    "block.skip": ((16, 16, 16), 4, 2, 0.5),
    "block": ((16, 16, 16), 8, 2, 0.5),
    "conv3": ((4, 8, 8), 16, 4, 2.5),  # (16 + 3 - 5) // 2 + 1 = 8
    "conv4": ((4, 8, 8), 32, 4, 2.5),
}


def test_hand_built_cnn_shapes_and_receptive_fields():
    model = Small()
    records = {r.name: r for r in engine.layers(model, (3, 32, 32))}
    for name, (shape, size, stride, offset) in EXPECTED.items():
        rec = records[name]
        assert rec.shape == shape, name
        rf = rec.receptive_field
        assert rf.size == (size, size), name
        assert rf.stride == (stride, stride), name
        assert rf.offset == (offset, offset), name
    assert records["act"].calls == 2 and records["act"].shape == (4, 8, 8)
    assert records["fc"].shape == (10,) and records["fc"].receptive_field is None
    assert records["block"].type == "Block"


def test_receptive_field_matches_brute_force_gradient_support():
    """Independent check: the input pixels that can change a unit are exactly its receptive field.

    With all-positive weights, no ReLU and average pooling instead of max, every pixel in the field has a
    non-zero gradient, so the gradient's support must equal the computed field (clipped to the image).
    """
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2), nn.Conv2d(1, 1, 5, stride=2), nn.Conv2d(1, 1, 3, dilation=2)
    )
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    rec = [r for r in engine.layers(model, (1, 64, 64)) if r.name == "3"][0]
    x = torch.rand(1, 1, 64, 64, requires_grad=True)
    out = model(x)
    i = 3
    out[0, 0, i, i].backward()
    rows = x.grad[0, 0].abs().sum(dim=1).nonzero()[:, 0]
    lo = rec.receptive_field.offset[0] + i * rec.receptive_field.stride[0] - (rec.receptive_field.size[0] - 1) / 2
    assert (rows.min().item(), rows.max().item()) == (lo, lo + rec.receptive_field.size[0] - 1)


def test_alexnet_pool5_matches_published_field():
    """Araujo et al., "Computing Receptive Fields of CNNs" (Distill 2019): AlexNet pool5 has r = 195, j = 32."""
    import torchvision

    model = torchvision.models.alexnet().features
    rec = [r for r in engine.layers(model) if r.name == "12"][0]
    assert rec.receptive_field.size == (195, 195) and rec.receptive_field.stride == (32, 32)
    assert rec.shape == (256, 6, 6)


def test_probe_leaves_the_model_untouched(resnet18):
    before = flags(resnet18.model)
    engine.layers(resnet18.model)
    assert hook_count(resnet18.model) == 0 and flags(resnet18.model) == before


def test_unknown_layer_names_the_close_choices(resnet18):
    with pytest.raises(LayerError, match=r"unknown layer 'layer5'.*valid layers: .*layer4"):
        engine.resolve_layer(resnet18.model, "layer5")
    with pytest.raises(LayerError, match=r"layer4\.1\.conv2"):
        engine.resolve_layer(resnet18.model, "layer4.1.conv3")
