"""Fast style transfer (Johnson et al.): the transformation network's shape and invariance, its losses against a hand
computation on a plain copy of the model, training, Stop/Resume, checkpoints, the untouched model and the messages."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import ImageError, ModelError, SettingError
from cnnviz_widgets.engine.faststyle import FastStyle, TransformNet
from cnnviz_widgets.engine.style.presets import Preset

from .conftest import Untouched, eval_mode, hook_count, mixed_state, small_cnn

PRESET = Preset(
    name="test", content=("conv2", 1.0), style=(("conv", 50.0), ("conv2", 50.0)), tv=0.0, remedy="scale", space="unit"
)
"""Relative weights on SmallCNN's two convolutions."""
TINY = dict(size=32, batch=2, width=4, blocks=1, lr=1e-2, content_weight=1.0, style_weight=1.0)


def smooth_picture(seed: int, height: int = 40, width: int = 48) -> torch.Tensor:
    """A ``(3, height, width)`` picture in [0, 1] with structure at several scales (noise upsampled)."""
    g = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(1, 3, 5, 6, generator=g), size=(height, width), mode="bilinear")
    return (0.7 * coarse + 0.3 * torch.rand(1, 3, height, width, generator=g))[0].clamp(0, 1)


def stripes(size: int = 32) -> torch.Tensor:
    """A style picture: red and blue diagonal stripes, ``(1, 3, size, size)`` (32: the crop size, seen unresized)."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    on = (((x + y) // 4) % 2).float()
    return torch.stack([on, 0.1 * torch.ones_like(on), 1 - on])[None]


def make(model=None, **settings) -> FastStyle:
    model = small_cnn() if model is None else model
    photos = [smooth_picture(i) for i in range(3)]
    return FastStyle(model, stripes(), images=photos, preview=smooth_picture(9, 20, 24), preset=PRESET,
                     **{**TINY, **settings})  # fmt: skip


# -- the network --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 37, 53), (1, 3, 5, 9), (1, 3, 64, 64)])
def test_transform_net_keeps_the_size_of_any_picture(shape):
    torch.manual_seed(0)
    out = TransformNet(width=4, blocks=1)(torch.rand(shape))
    assert out.shape == shape
    assert float(out.detach().min()) >= 0 and float(out.detach().max()) <= 1


def test_instance_norm_makes_the_output_independent_of_a_brightness_offset():
    torch.manual_seed(0)
    net = TransformNet(width=8, blocks=2)
    x = 0.7 * torch.rand(1, 3, 30, 34)
    with torch.no_grad():
        plain, brighter, other = net(x), net(x + 0.25), net(x.flip(-1))
    assert torch.allclose(plain, brighter, atol=2e-5)
    assert (plain - other).abs().max() > 1e-3  # not a constant network: only the offset is forgotten


def test_transform_net_refuses_tiny_or_grey_pictures():
    net = TransformNet(width=4, blocks=1)
    with pytest.raises(ImageError, match="at least 5 px"):
        net(torch.rand(1, 3, 4, 40))
    with pytest.raises(ImageError, match="RGB"):
        net(torch.rand(1, 1, 32, 32))


# -- losses, training -----------------------------------------------------------------------------------------


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrices by an explicit sum over positions, over C*H*W."""
    b, c, h, w = f.shape
    return torch.einsum("bcp,bdp->bcd", f.reshape(b, c, h * w), f.reshape(b, c, h * w)) / (c * h * w)


def test_losses_match_a_hand_computation_on_a_plain_copy_of_the_model():
    model = small_cnn()
    run = make(model, content_weight=2.0, style_weight=3.0, tv=0.5)
    photos = run.batch()
    out = run.transform(photos).detach()
    got = run.losses(photos, out)
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    twin = copy.deepcopy(model)
    with eval_mode(twin), torch.no_grad():

        def maps(p):
            conv = twin.conv((p - mean) / std)
            return {"conv": conv, "conv2": twin.conv2(torch.relu(twin.bn(conv)))}

        mo, mp, ms = maps(out), maps(photos), maps(stripes())
    content = sum(((mo["conv2"][i] - mp["conv2"][i]).pow(2).sum() / mp["conv2"][i].pow(2).sum()) for i in range(2)) / 2
    style = sum(
        50.0 * sum((gram(mo[k][i : i + 1]) - gram(ms[k])).pow(2).sum() for i in range(2)) / 2 / gram(ms[k]).pow(2).sum()
        for k in ("conv", "conv2")
    )
    tv = (
        sum(
            (out[i, :, 1:, :] - out[i, :, :-1, :]).pow(2).sum() + (out[i, :, :, 1:] - out[i, :, :, :-1]).pow(2).sum()
            for i in range(2)
        )
        / 2
    )
    expected = {"content": 2.0 * content, "style": 3.0 * style, "tv": 0.5 * tv}
    for name, value in expected.items():
        assert float(got[name]) == pytest.approx(float(value), rel=1e-4), name
    assert float(got["total"]) == pytest.approx(sum(float(v) for v in expected.values()), rel=1e-5)


def test_training_lowers_the_loss_on_held_out_crops():
    run = make()
    held_out = torch.stack([smooth_picture(20)[:, :32, :32], smooth_picture(21)[:, 4:36, 8:40]])
    with torch.no_grad():
        before = float(run.losses(held_out, run.transform(held_out))["total"])
    frames = [u.result for u in run.steps(40, every=20) if u.result is not None]
    with torch.no_grad():
        after = float(run.losses(held_out, run.transform(held_out))["total"])
    assert after < 0.7 * before, (before, after)
    assert [f.step for f in frames] == [20, 40] and run.step == 40 and len(run.curves["total"]) == 40
    assert frames[-1].preview.shape == (1, 3, 213, 256)  # the 20x24 preview photo at 256 px
    assert set(frames[-1].losses) == {"content", "style", "tv", "total"}


def test_stop_and_resume_equals_an_uninterrupted_run():
    whole = make()
    for _ in whole.steps(6, every=0):
        pass
    stopped = make()
    updates = stopped.steps(6, every=1)
    for i, _ in enumerate(updates):
        if i == 1:
            break
    updates.close()  # Stop after 2 steps
    assert stopped.step == 2
    fractions = [u.fraction for u in stopped.steps(4, every=0)]
    assert fractions == [0.25, 0.5, 0.75, 1.0] and stopped.step == 6
    assert stopped.curves == whole.curves
    for name, value in whole.transform.state_dict().items():
        assert torch.allclose(value, stopped.transform.state_dict()[name], atol=1e-6), name


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("inside", ["made", "made and trained"])
def test_a_caller_without_gradients_trains_as_any_other(context, inside):
    """Made (and trained) inside the caller's no_grad() or inference_mode(): the same run as outside."""
    plain, model = make(), small_cnn()  # the user's model is made as usual; only the run is made inside
    for _ in plain.steps(3, every=0):
        pass
    with context():
        run = make(model)
        if inside == "made and trained":
            for _ in run.steps(3, every=0):
                pass
    if inside == "made":
        for _ in run.steps(3, every=0):
            pass
    assert run.curves == plain.curves
    for name, value in plain.transform.state_dict().items():
        assert torch.equal(value, run.transform.state_dict()[name]), name


def test_checkpoint_round_trip_applies_and_resumes_identically(tmp_path):
    model = small_cnn()
    run = make(model)
    for _ in run.steps(3, every=0):
        pass
    path = run.save(tmp_path / "fast.pt")
    loaded = FastStyle.load(path, model, images=run.photos)
    photo = smooth_picture(30, 27, 41)
    assert loaded.step == 3 and loaded.settings == run.settings and loaded.preset == PRESET
    assert torch.equal(loaded.apply(photo), run.apply(photo))
    for _ in run.steps(2, every=0):
        pass
    for _ in loaded.steps(2, every=0):
        pass
    assert loaded.curves == run.curves
    assert torch.equal(loaded.apply(photo), run.apply(photo))


def test_a_state_dict_is_a_cpu_copy_that_later_training_leaves_alone():
    run = make()
    for _ in run.steps(2, every=0):
        pass
    state = run.state_dict()
    before = copy.deepcopy(state)

    def tensors(state):
        adam = {f"adam {i} {k}": v for i, group in state["optimizer"]["state"].items() for k, v in group.items()}
        return {**state["transform"], **adam}

    for _ in run.steps(2, every=0):
        pass
    kept, now = tensors(before), tensors(state)
    assert any(name.startswith("adam") for name in kept)
    for name, value in kept.items():
        assert now[name].device.type == "cpu" and torch.equal(now[name], value), name


def test_apply_stylises_any_size_on_the_cpu():
    run = make()
    out = run.apply(smooth_picture(3, 23, 31))
    assert out.shape == (1, 3, 23, 31) and out.device.type == "cpu" and out.dtype == torch.float32
    assert run.apply(cw.sample_image("cat"), size=64).shape[-1] == 64


def test_the_model_is_untouched_and_hook_free_between_steps(tmp_path):
    model = mixed_state(small_cnn())
    with Untouched(model):
        run = make(model)
        for _ in run.steps(2, every=1):
            assert hook_count(model) == 0
        run.apply(smooth_picture(4))
        FastStyle.load(run.save(tmp_path / "c.pt"), model, images=run.photos).apply(smooth_picture(4))


# -- messages -------------------------------------------------------------------------------------------------


def test_bad_inputs_say_what_is_accepted(tmp_path):
    model = small_cnn()
    with pytest.raises(ImageError, match="images is empty"):
        FastStyle(model, stripes(), images=[], preset=PRESET)
    with pytest.raises(ImageError, match="list of training photos"):
        FastStyle(model, stripes(), images=smooth_picture(0), preset=PRESET)
    with pytest.raises(ImageError, match="cannot read a int as an image"):
        FastStyle(model, 42, images=[smooth_picture(0)], preset=PRESET)
    with pytest.raises(ImageError, match="no image file"):
        FastStyle(model, "no-such-style.png", images=[smooth_picture(0)], preset=PRESET)
    with pytest.raises(SettingError, match=r"size must be a number in 32\.\.1024, got 8"):
        make(size=8)
    grey = cw.Net(small_cnn(channels=1), cw.engine.model.Preprocess(size=32, channels=1))
    with pytest.raises(SettingError, match=r"colour \(3-channel\) model; .* takes 1 channel\b"):
        make(grey)
    with pytest.raises(SettingError, match="FastStyle has no option 'epochs'"):
        make(epochs=2)
    with pytest.raises(SettingError, match=r"steps must be a number in 0\.\.10000000, got -1"):
        make().steps(-1)
    with pytest.raises(ModelError, match="does not fit the model"):
        make(width=6).load_state_dict(make().state_dict())
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a FastStyle checkpoint"):
        FastStyle.load(tmp_path / "other.pt", model)
