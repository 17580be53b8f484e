"""One-channel (grayscale) models in the engine and in every view (issue 12, defect 1), against plain torch.

The model is MNIST-like: LeNet on 28 x 28 grey pictures, with a fixed ``Linear`` after flatten, so it only runs at
its own input size. References are computed by hand from PIL's grey conversion (ITU-R 601-2 luma, the ``"L"``
mode) and the model's own forward pass.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine import ModelError, Preprocess
from cnnviz_widgets.engine.featurevis import Visualization
from cnnviz_widgets.engine.featurevis.param import ImageParam
from cnnviz_widgets.engine.featurevis.transforms import Robustness
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.widgets.encoding import decode_array
from cnnviz_widgets.widgets.frames import image_strip

from .conftest import eval_mode, small_cnn

SIZE = 28
MEAN, STD = 0.1307, 0.3081  # MNIST's
GREY_IMAGENET = (0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406, 0.299 * 0.229 + 0.587 * 0.224 + 0.114 * 0.225)


class LeNet(nn.Module):
    """LeNet-5 as in MNIST tutorials: (N, 1, 28, 28) -> 10 logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 84)
        self.fc2 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@pytest.fixture(scope="module")
def lenet() -> LeNet:
    torch.manual_seed(0)
    return LeNet().eval()


@pytest.fixture(scope="module")
def net(lenet) -> cw.Net:
    return cw.Net(lenet, Preprocess(size=SIZE, channels=1, mean=(MEAN,), std=(STD,)))


@pytest.fixture(scope="module")
def img() -> Image.Image:
    return cw.sample_image("cat")


def grey(img: Image.Image, size: int = SIZE) -> np.ndarray:
    """The picture the model should see, by hand: PIL's grey conversion, squashed to ``size`` (uint8, (H, W))."""
    return np.array(img.convert("L").resize((size, size), Image.BILINEAR))


def by_hand(img: Image.Image, size: int = SIZE, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """The normalised ``(1, 1, H, W)`` input, by hand."""
    return ((torch.from_numpy(grey(img, size).astype(np.float32)) / 255 - mean) / std)[None, None]


def decode_png(picture: Image.Image) -> np.ndarray:
    return np.array(picture.convert("RGB")).astype(int)


def as_grey(rgb: np.ndarray) -> np.ndarray:
    """The one channel of an RGB picture whose channels must all be equal."""
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all(), "the picture is not grey"
    return rgb[..., 0]


# -- the engine -------------------------------------------------------------------------------------------------
def test_a_bare_one_channel_model_gets_grey_imagenet_preprocessing(img):
    model = small_cnn(channels=1).eval()
    net = cw.Net(model)
    assert net.preprocess.channels == 1 and net.preprocess.fit == "squash" and net.preprocess.size == 224
    np.testing.assert_allclose((net.preprocess.mean[0], net.preprocess.std[0]), GREY_IMAGENET, rtol=1e-12)
    assert cw.Net(small_cnn().eval()).preprocess == Preprocess()  # an RGB model keeps RGB ImageNet preprocessing
    x = by_hand(img, 224, *GREY_IMAGENET)
    torch.testing.assert_close(net.tensor(img), x)
    with torch.no_grad():
        expected = model(x)[0]
    torch.testing.assert_close(net.logits(img), expected)
    assert net.num_classes == 10 and net.layers()[0].shape == (6, 224, 224)


def test_the_grey_input_is_plain_luma_and_round_trips(net, lenet, img):
    luma = np.array(img).astype(np.float64) @ [0.299, 0.587, 0.114]  # ITU-R 601-2, what PIL's "L" mode is
    assert np.abs(np.array(img.convert("L")) - luma).max() <= 0.5 + 1e-6

    x = net.tensor(img)
    assert x.shape == (1, 1, SIZE, SIZE)
    torch.testing.assert_close(x, by_hand(img))
    with torch.no_grad():
        torch.testing.assert_close(net.logits(img), lenet(by_hand(img))[0])
    view = np.array(net.view(img)).astype(int)
    assert np.array_equal(as_grey(view), grey(img))
    assert np.array_equal(net.preprocess.denormalise(x), view)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 2}, r"channels must be 1 \(a grayscale model\) or 3 \(RGB\), got 2"),
        (
            {"channels": 1, "mean": (0.5, 0.5, 0.5)},
            r"mean has 3 value\(s\) but the preprocessing makes 1 channel\(s\) \(grayscale\)",
        ),
        (
            {"mean": (0.1307,), "std": (0.3081,)},
            r"mean has 1 value\(s\) but .* 3 channel\(s\) \(RGB\); give one value per channel, or channels=1",
        ),
        ({"channels": 1, "std": (0.0,)}, r"std must be positive"),
    ],
)
def test_bad_channel_settings_raise_saying_what_fits(kwargs, message):
    with pytest.raises(ModelError, match=message):
        Preprocess(**kwargs)


def test_one_channel_image_parameterisations_skip_the_colour_decorrelation():
    target = torch.rand(2, 1, 20, 20, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    for param in ("fft", "pixel"):
        for squash in ("sigmoid", "clamp"):
            p = ImageParam((2, 1, 20, 20), param, decorrelate=True, squash=squash)
            assert not p.decorrelate and p.tensor.shape[1] == 1
            p.set_image(target)
            torch.testing.assert_close(p(), target, rtol=0, atol=1e-4)
    # The clamp squash centres a grey image on ImageNet's mean colour in grey.
    flat = ImageParam((1, 1, 8, 8), "pixel", decorrelate=False, squash="clamp", sd=0.0)
    torch.testing.assert_close(flat(), torch.full((1, 1, 8, 8), 0.299 * 0.48 + 0.587 * 0.46 + 0.114 * 0.41))


def test_the_transforms_treat_a_grey_image_as_its_grey_rgb_copy():
    images = torch.rand(2, 1, 20, 20, generator=torch.Generator().manual_seed(1))
    one = Robustness()(images, 28, random.Random(5))
    three = Robustness()(images.expand(2, 3, 20, 20), 28, random.Random(5))
    assert one.shape == (2, 1, 28, 28)
    torch.testing.assert_close(one.expand(2, 3, 28, 28), three)


def test_a_feature_visualisation_step_is_plain_torchs_gradient_step(net, lenet):
    lr = 0.05
    vis = Visualization(net, "conv2:3", SIZE, param="pixel", transforms=False, lr=lr, seed=2)  # decorrelate: True
    assert vis.image().shape == (1, 1, SIZE, SIZE) and not vis.image_param.decorrelate
    start = vis.image_param.tensor.detach().clone()
    p = start.clone().requires_grad_()
    acts = {}
    hook = lenet.conv2.register_forward_hook(lambda _m, _i, out: acts.__setitem__("conv2", out))
    try:
        with eval_mode(lenet, requires_grad=False):
            lenet((torch.sigmoid(p) - MEAN) / STD)
    finally:
        hook.remove()
    value = acts["conv2"][:, 3].mean()
    (grad,) = torch.autograd.grad(-value, p)
    last(vis.steps(1))
    assert vis.curve[0] == pytest.approx(float(value.detach()), rel=1e-4, abs=1e-6)
    # Adam's first step is lr * g / (|g| + eps): lr against the gradient wherever it is clearly non-zero.
    step = vis.image_param.tensor.detach() - start
    clear = grad.abs() > 1e-5
    assert clear.float().mean() > 0.3
    torch.testing.assert_close(step[clear], -lr * torch.sign(grad[clear]), rtol=0, atol=1e-3 * lr)


def test_a_feature_visualisation_can_start_from_a_photo_in_grey(net, img):
    vis = Visualization(net, "conv2:3", SIZE, init=img)
    expected = torch.from_numpy(np.array(img.convert("L").resize((SIZE, SIZE))).astype(np.float32) / 255)
    torch.testing.assert_close(vis.image()[0, 0], expected, rtol=0, atol=1e-3)


def test_image_strip_draws_a_grey_batch_as_grey_rgb():
    batch = torch.rand(2, 1, 5, 7, generator=torch.Generator().manual_seed(3))
    levels = np.round(batch.numpy() * 255).astype(np.uint8)
    expected = np.concatenate([levels[0, 0], levels[1, 0]], axis=1)
    strip = np.array(image_strip(batch))
    assert strip.shape == (5, 14, 3)
    assert np.array_equal(as_grey(strip.astype(int)), expected)


# -- the views --------------------------------------------------------------------------------------------------
def test_saliency_explorer_shows_the_grey_picture_and_plain_torchs_gradient(net, lenet, img):
    w = cw.SaliencyExplorer(net, img)  # Grad-CAM first: it must work too
    try:
        w.wait()
        assert w.error == "" and w.heatmap.values.shape == (SIZE, SIZE)
        assert np.array_equal(as_grey(decode_png(w.image)), grey(img))
        x = by_hand(img).requires_grad_()
        with eval_mode(lenet, requires_grad=False):
            logits = lenet(x)
        assert [p["index"] for p in w.predictions] == logits[0].topk(5).indices.tolist()
        (grad,) = torch.autograd.grad(logits[0, w.target], x)
        w.method = "gradient"
        w.wait()
        assert w.error == ""
        np.testing.assert_allclose(w.heatmap.values, grad[0, 0].abs().numpy(), rtol=1e-5, atol=1e-8)
    finally:
        w.close()


def test_saliency_explorer_takes_a_bare_grey_module(img):
    model = small_cnn(channels=1).eval()
    w = cw.SaliencyExplorer(model, img, method="gradient")
    try:
        w.wait()
        assert w.error == "" and w.net.preprocess.channels == 1
        assert np.array_equal(as_grey(decode_png(w.image)), grey(img, 224))
    finally:
        w.close()


def test_occlusion_explorer_maps_plain_torchs_score_drops_and_shows_a_grey_occluded_image(net, lenet, img):
    w = cw.OcclusionExplorer(net, img, window=7, stride=7, baseline=0.0)
    try:
        w.wait()
        assert w.error == "" and w.done == w.total == 16
        target, x = w.target, by_hand(img)
        # Non-overlapping 7-pixel windows on 28 pixels: window (i, j) covers rows 7i.. and columns 7j..
        batch = x.repeat(16, 1, 1, 1)
        for k in range(16):
            i, j = divmod(k, 4)
            batch[k, :, 7 * i : 7 * i + 7, 7 * j : 7 * j + 7] = 0.0
        with torch.no_grad():
            clean, occluded = lenet(x)[0, target], lenet(batch)[:, target]
        drops = (clean - occluded).reshape(4, 4)
        expected = drops.repeat_interleave(7, 0).repeat_interleave(7, 1)
        np.testing.assert_allclose(w.heatmap.values, expected.numpy(), rtol=1e-4, atol=1e-5)

        w.show_window(1, 2)
        assert w.occluded["box"] == [7, 14, 14, 21]
        with torch.no_grad():
            prob = lenet(batch[6:7]).softmax(1)[0, target]
        assert w.occluded["prob"] == pytest.approx(float(prob), rel=1e-5)
        # The occluded picture, by hand: the grey photo with the window at the mean (normalised 0) grey level.
        picture = grey(img).copy()
        picture[7:14, 14:21] = round(255 * MEAN)
        assert np.array_equal(as_grey(decode_png(Image.open(io.BytesIO(w.occluded["image"])))), picture)
    finally:
        w.close()


def test_feature_visualizer_streams_and_ends_with_grey_pictures(net, img):
    w = cw.FeatureVisualizer(
        net, "conv2:3", image=img, steps=6, batch=2, batch_mode="diverse"
    )  # fft, decorrelate, transforms
    try:
        w.wait()
        assert w.error == "" and w.step == 6
        images = w.visualization.image()
        assert images.shape == (2, 1, SIZE, SIZE)
        levels = np.round(images.numpy() * 255).astype(int)
        assert np.array_equal(as_grey(decode_png(w.final)), np.concatenate([levels[0, 0], levels[1, 0]], axis=1))
        frame = np.array(w.frame.convert("RGB")).astype(int)
        assert frame.shape == (SIZE, 2 * SIZE, 3) and np.abs(frame - frame[..., :1]).max() <= 2
        assert decode_array(w.thumbnails).shape[0] == 16  # conv2's channel maps of the grey photo
    finally:
        w.close()
