"""How a picture that is not square becomes the model's square input (issue 12, defect 2): ``Preprocess(fit=...)``
squashes, crops or pads, each pinned against the same steps done by hand with PIL and numpy; ``fit_note`` says what
happened; the photo views show exactly that picture and carry the note in their ``notice`` trait."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine import ModelError, Preprocess

from .conftest import small_cnn

WIDE = (300, 200)
SIZE = 32


def photo(size=WIDE) -> Image.Image:
    """The cat sample resized to ``size`` (width, height): a real photo of a chosen shape."""
    return cw.sample_image("cat").resize(size, Image.BICUBIC)


def normalised(pixels: np.ndarray, mean, std) -> torch.Tensor:
    """``(1, C, H, W)`` of an ``(H, W, C)`` uint8 array, by hand."""
    x = torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)
    return ((x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None])[None]


def decode_png(picture: Image.Image) -> np.ndarray:
    return np.array(picture.convert("RGB"))


# -- the three fits against PIL by hand ----------------------------------------------------------------------
def test_squash_resizes_the_whole_picture_to_the_square():
    img = photo()
    prep = Preprocess()
    assert prep.fit == "squash"
    expected = np.array(img.resize((224, 224), Image.BILINEAR))
    assert np.array_equal(np.array(prep.view(img)), expected)


@pytest.mark.parametrize(
    "size, resized, box",
    [
        # short side 200 -> 224: 300 x 200 -> 336 x 224, centre 224 columns from (336 - 224) / 2 = 56
        (WIDE, (336, 224), (56, 0, 280, 224)),
        # a tall picture: 200 x 300 -> 224 x 336, centre 224 rows from 56
        ((200, 300), (224, 336), (0, 56, 224, 280)),
    ],
)
def test_crop_resizes_the_short_side_to_size_and_keeps_the_centre(size, resized, box):
    img = photo(size)
    prep = Preprocess(fit="crop")
    expected = np.array(img.resize(resized, Image.BILINEAR).crop(box))
    assert np.array_equal(np.array(prep.view(img)), expected)


def test_crop_with_resize_is_torchvisions_recipe_and_stays_the_default_when_resize_is_given():
    img = photo()
    prep = Preprocess(resize=256)
    assert prep.fit == "crop"
    # short side 200 -> 256: 384 x 256; centre 224 x 224 from ((384 - 224) / 2, (256 - 224) / 2) = (80, 16)
    expected = np.array(img.resize((384, 256), Image.BILINEAR).crop((80, 16, 304, 240)))
    assert np.array_equal(np.array(prep.view(img)), expected)
    assert Preprocess(resize=256, fit="crop") == prep


def test_resnet18_still_crops():
    prep = cw.load_model("resnet18", pretrained=False).preprocess
    assert (prep.fit, prep.resize, prep.size, prep.interpolation) == ("crop", 256, 224, "bilinear")


@pytest.mark.parametrize(
    "size, inner, at",
    [
        (WIDE, (224, 149), (0, 37)),  # long side 300 -> 224: 200 * 224 / 300 = 149.3 -> 149 rows, from (224 - 149) // 2
        ((200, 300), (149, 224), (37, 0)),
    ],
)
def test_pad_resizes_the_long_side_and_fills_with_the_mean_colour_which_normalises_to_zero(size, inner, at):
    img = photo(size)
    prep = Preprocess(fit="pad")
    canvas = np.empty((224, 224, 3), np.uint8)
    canvas[:] = [124, 116, 104]  # ImageNet's mean (0.485, 0.456, 0.406) * 255, rounded
    left, top = at
    canvas[top : top + inner[1], left : left + inner[0]] = np.array(img.resize(inner, Image.BILINEAR))
    view = np.array(prep.view(img))
    assert np.array_equal(view, canvas)

    x = prep.normalise(prep.view(img))
    torch.testing.assert_close(x, normalised(canvas, prep.mean, prep.std), rtol=0, atol=1e-6)
    border = torch.ones(224, 224, dtype=torch.bool)
    border[top : top + inner[1], left : left + inner[0]] = False
    # The mean colour in 8 bits is within half a grey level of the mean: its normalised value is that close to 0.
    assert x[0][:, border].abs().max() <= 0.5 / 255 / min(prep.std)


def test_pad_of_a_grey_model_uses_the_grey_mean():
    prep = Preprocess(size=SIZE, fit="pad", channels=1)
    view = np.array(prep.view(photo()))
    assert (view[0] == round(255 * (0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406))).all()  # 117 in every channel


def test_a_net_feeds_the_model_the_picture_it_shows():
    model = small_cnn().eval()
    img = photo()
    for fit in ("squash", "crop", "pad"):
        net = cw.Net(model, Preprocess(size=SIZE, fit=fit))
        view = np.array(net.view(img))
        assert view.shape == (SIZE, SIZE, 3)
        torch.testing.assert_close(net.tensor(img), normalised(view, net.preprocess.mean, net.preprocess.std))
        with torch.no_grad():
            expected = model(normalised(view, net.preprocess.mean, net.preprocess.std))[0]
        torch.testing.assert_close(net.logits(img), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fit": "stretch"}, r"unknown fit 'stretch'; choose one of: squash, crop, pad"),
        (
            {"fit": "pad", "resize": 256},
            r"resize=256 is the short side before the centre crop of fit='crop'; with fit='pad' leave it out",
        ),
        ({"interpolation": "lanczos"}, r"unknown interpolation 'lanczos'; choose one of: bilinear, bicubic, nearest"),
        ({"size": 0}, r"size must be a number >= 1, got 0"),
    ],
)
def test_bad_fits_raise_naming_the_choices(kwargs, message):
    with pytest.raises(ModelError, match=message):
        Preprocess(**kwargs)


# -- what the user is told -------------------------------------------------------------------------------------
def test_the_notes_say_what_each_fit_did():
    assert Preprocess().fit_note((300, 200)) == (
        "squashed from 300×200 to 224×224: the aspect ratio changed; Preprocess(fit='crop' or 'pad') keeps it"
    )
    assert Preprocess(resize=256).fit_note((300, 200)) == (
        "centre-cropped from 300×200 to 224×224: the aspect ratio is kept, the left and right edges are cut off; "
        "Preprocess(fit='pad') shows the whole picture"
    )
    assert "the top and bottom edges are cut off" in Preprocess(fit="crop").fit_note((200, 300))
    assert Preprocess(fit="pad").fit_note((300, 200)) == (
        "padded from 300×200 (resized to 224×149) to 224×224 with the mean colour: the aspect ratio is kept"
    )
    for fit in ("squash", "crop", "pad"):  # a square picture is only resized: nothing to say
        assert Preprocess(fit=fit).fit_note((500, 500)) is None


def test_net_fit_note_reads_any_image():
    net = cw.Net(small_cnn().eval(), Preprocess(size=SIZE))
    assert net.fit_note(np.zeros((200, 300, 3), np.uint8)) == (
        f"squashed from 300×200 to {SIZE}×{SIZE}: the aspect ratio changed; Preprocess(fit='crop' or 'pad') keeps it"
    )
    assert net.fit_note(torch.rand(3, 40, 40)) is None


@pytest.mark.parametrize("view", ["saliency", "occlusion", "featurevis"])
@pytest.mark.parametrize("fit", ["squash", "pad"])
def test_photo_views_show_the_models_picture_and_say_what_happened(view, fit):
    net = cw.Net(small_cnn().eval(), Preprocess(size=SIZE, fit=fit))
    img = photo()
    make = {
        "saliency": lambda: cw.SaliencyExplorer(net, img, method="gradient"),
        "occlusion": lambda: cw.OcclusionExplorer(net, img, window=8, stride=8, start=False),
        "featurevis": lambda: cw.FeatureVisualizer(net, "conv2:1", image=img, start=False),
    }[view]
    w = make()
    try:
        w.wait()
        assert w.error == ""
        assert np.array_equal(decode_png(w.image), np.array(net.view(img)))
        assert w.notice == net.fit_note(img) and w.notice.startswith({"squash": "squashed", "pad": "padded"}[fit])
        w.set_image(photo((120, 120)))  # a square picture: nothing to say any more
        assert w.notice == ""
        w.set_image(photo((200, 300)))
        assert w.notice == net.fit_note(photo((200, 300))) and "from 200×300" in w.notice
    finally:
        w.close()
