"""Image inputs of every kind become one checked RGB image, or a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cnnviz_widgets import engine
from cnnviz_widgets.engine import ImageError


def test_samples_are_rgb_photos():
    cat = engine.sample_image("cat")
    assert cat.mode == "RGB" and cat.size == (451, 300)
    assert engine.sample_image("coffee").size == (600, 400)
    with pytest.raises(ImageError, match="choose one of: cat, coffee"):
        engine.sample_image("dog")


def test_rgba_is_composited_on_white():
    arr = np.zeros((20, 20, 4), np.uint8)
    arr[..., 0] = 200
    arr[..., 3] = 64  # 25 % opaque red over white: 255 + 0.25 * (200 - 255) = 241.25; G, B: 255 * 0.75 = 191.25
    out = np.asarray(engine.load_image(arr))
    assert out.shape == (20, 20, 3)
    assert np.abs(out[0, 0].astype(int) - [241, 191, 191]).max() <= 1


def test_grayscale_and_single_channel_become_gray_rgb():
    gray = np.arange(400, dtype=np.uint8).reshape(20, 20)
    for source in (gray, gray[..., None], Image.fromarray(gray)):
        out = np.asarray(engine.load_image(source))
        assert out.shape == (20, 20, 3) and (out == gray[..., None]).all()


def test_sixteen_bit_is_scaled_not_clipped():
    arr = np.full((20, 20), 65535, np.uint16)
    arr[0, 0] = 32896  # 32896 / 257 = 128
    out = np.asarray(engine.load_image(arr))
    assert out[0, 0, 0] == 128 and out[5, 5, 0] == 255
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")  # a real 16-bit PNG file
    assert np.asarray(engine.load_image(buf.getvalue()))[0, 0, 0] == 128


def test_float_arrays_and_tensors_in_unit_range():
    arr = np.full((20, 20, 3), 0.5, np.float32)
    assert np.asarray(engine.load_image(arr))[0, 0, 0] == 128
    t = torch.full((1, 3, 20, 20), 0.25)
    assert np.asarray(engine.load_image(t))[0, 0, 0] == 64  # channels-first tensor, batch of one


@pytest.mark.parametrize(
    "obj,message",
    [
        (np.zeros((8, 8, 3), np.uint8), r"8x8 pixels; the smallest accepted side is 16"),
        (np.full((20, 20, 3), 255.0), r"float images must lie in \[0, 1\]"),
        (np.zeros((20, 20, 3), np.int64), r"unsupported pixel type int64"),
        (np.zeros((20, 20, 5), np.uint8), r"shape \(20, 20, 5\)"),
        (torch.rand(2, 3, 20, 20), r"batch of 2 images"),
        (b"definitely not an image", r"could not read an image"),
        ("/no/such/file.png", r"no image file"),
        (42, r"cannot read a int as an image; expected a PIL image"),
    ],
)
def test_bad_inputs_say_what_is_accepted(obj, message):
    with pytest.raises(ImageError, match=message):
        engine.load_image(obj)


def test_huge_image_is_accepted_and_model_sized_quickly(default_net):
    big = Image.new("RGB", (8000, 8000), (10, 200, 30))
    view = default_net.view(big)
    assert view.size == (224, 224) and view.getpixel((100, 100)) == (10, 200, 30)


def test_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(engine.images, "MAX_PIXELS", 1000)
    buf = io.BytesIO()
    Image.new("RGB", (40, 40)).save(buf, format="PNG")
    with pytest.raises(ImageError, match="megapixels"):
        engine.load_image(buf.getvalue())
