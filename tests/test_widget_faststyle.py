"""FastStyleTrainer, Python side: Start trains the engine's network (its preview, curves and checkpoint are those of
the same training run alone), Stop lands within a step and Resume ends where an uninterrupted training ends, the
checkpoint (saved, or downloaded by the page in one message, never a trait) reads back into the same network, apply()
and the page's sample or upload stylise a photo in one forward pass (the page's at most 1024 px), the notes say what
it trains on, a superseded training's summary is not shown, bad input raises in Python (with the valid choices) or
lands in the banner, and the user's model is left as it was.

A small CNN, a network 4 channels wide and 32 px crops keep the trainings short; a copy that sleeps in every forward
pass makes one long enough to stop it halfway.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import ArgumentTypeError, ImageError, SettingError, ViewError
from cnnviz_widgets.engine.faststyle import FastStyle, training_photos
from cnnviz_widgets.engine.style import preset_for
from cnnviz_widgets.testing import Frontend
from cnnviz_widgets.widgets.encoding import png_bytes

from .conftest import Untouched, hook_count, small_cnn
from .test_widget_featurevis import SlowCNN

TINY = dict(size=32, batch=2, width=4, blocks=1, lr=1e-2, content_weight=1.0, style_weight=1.0)


def photo(seed: int, size=(40, 48)) -> Image.Image:
    """A smooth random RGB photo ``size`` = (height, width): noise upsampled, so crops have structure."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    return coarse.resize((size[1], size[0]), Image.BILINEAR)


PHOTOS = [photo(i) for i in range(3)]
STYLE = photo(7, (32, 32))
PREVIEW = photo(9, (20, 24))


def trainer(model=None, **kwargs) -> cw.FastStyleTrainer:
    net = cw.Net(model if model is not None else small_cnn().eval())
    settings = {"images": PHOTOS, "preview": PREVIEW, "steps": 6, "start": False, **TINY, **kwargs}
    return cw.FastStyleTrainer(net, STYLE, **settings)


def alone(net: cw.Net, steps: int, **kwargs) -> FastStyle:
    """The same training as the view's, run by the engine alone."""
    run = FastStyle(net, STYLE, images=PHOTOS, preview=PREVIEW, **{**TINY, **kwargs})
    for _ in run.steps(steps, every=0):
        pass
    return run


def pixels(picture: Image.Image) -> np.ndarray:
    return np.array(picture.convert("RGB")).astype(int)


def as_picture(x: torch.Tensor) -> np.ndarray:
    """A ``(1, 3, H, W)`` tensor in [0, 1] as the 8-bit RGB array a PNG of it holds."""
    return (x[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy().astype(int)


def assert_same_network(a: torch.nn.Module, b: torch.nn.Module, atol: float = 1e-6) -> None:
    theirs = b.state_dict()
    for name, value in a.state_dict().items():
        assert torch.allclose(value, theirs[name], atol=atol), name


def downloaded(page: Frontend) -> bytes:
    """Press Download checkpoint: the one file the view answers with."""
    before = len(page.received)
    page.checkpoint()
    ((content, files),) = page.received[before:]
    assert content == {"type": "checkpoint", "name": "faststyle.pt"} and len(files) == 1
    return files[0]


@pytest.fixture
def fast_frames(monkeypatch):
    monkeypatch.setattr(cw.FastStyleTrainer, "FRAME_INTERVAL", 0.0)
    monkeypatch.setattr(cw.FastStyleTrainer, "ACK_PATIENCE", 0.0)


def test_start_trains_the_engines_network_and_shows_its_preview_curves_and_checkpoint(fast_frames):
    model = small_cnn().eval()
    with Untouched(model):
        w = trainer(model, seed=3)
        assert w.status.startswith("press Start to train a network") and w.step == 0
        assert set(w.sources) == {"style", "preview"}
        assert w.notes == ["trains on the 3 photo(s) given", "previews the photo given"]
        frames = []
        w.observe(lambda c: c.new and frames.append(c.new.size), names="frame")
        page = Frontend(w, ack=True)
        page.run()
        w.wait()
        assert w.error == "" and not w.busy and w.step == 6 and w.progress == 1.0
        assert frames and set(frames) == {(256, 213)}  # the 24x20 preview at 256 px, live
        reference = alone(w.net, 6, seed=3)
        np.testing.assert_array_equal(pixels(w.final), as_picture(reference.apply(reference.preview)))
        assert set(w.curves) == {"content", "style", "tv", "total"}
        for name, values in reference.curves.items():
            np.testing.assert_allclose(w.curves[name], values, rtol=1e-5)
        totals = np.array(w.curves["content"]) + np.array(w.curves["style"]) + np.array(w.curves["tv"])
        np.testing.assert_allclose(w.curves["total"], totals, rtol=1e-5)
        assert w.recipe == f"features of {w.net.name}, recipe {preset_for(w.net).name}"
        assert w.status.startswith("done: step 6/6") and "steps/s" in w.status and "loss" in w.status
        state = torch.load(io.BytesIO(downloaded(page)), weights_only=True)
        assert state["step"] == 6 and state["settings"]["width"] == 4
        assert_same_network(w.training.run.transform, reference.transform)
        w.close()
    assert hook_count(model) == 0


def test_stop_lands_within_a_step_and_resume_ends_where_an_uninterrupted_training_ends():
    w = trainer(SlowCNN(0.01).eval(), steps=12)
    try:
        front = Frontend(w, ack=True)
        front.run()
        deadline = time.monotonic() + 60
        while (w.training is None or w.training.step < 3) and time.monotonic() < deadline:
            time.sleep(0.005)
        front.stop()
        at = w.training.step
        w.wait()
        stopped = w.training.step
        assert 3 <= stopped <= at + 1 < 12 and w.status.startswith(f"stopped at step {stopped}/12")
        assert w.final is not None and torch.load(io.BytesIO(downloaded(front)), weights_only=True)["step"] == stopped
        front.resume()
        w.wait()
        assert w.step == 12 and w.status.startswith("done: step 12/12") and len(w.curves["total"]) == 12
        whole = alone(cw.Net(small_cnn().eval()), 12)
        assert_same_network(w.training.run.transform, whole.transform)
        np.testing.assert_allclose(w.curves["total"], whole.curves["total"], rtol=1e-5)
        front.resume()  # at the end: a run's steps more
        w.wait()
        assert w.step == 24
    finally:
        w.close()


@pytest.mark.parametrize("wire", ["buffers", "base64"])
def test_the_checkpoint_reads_back_into_the_same_network(tmp_path, monkeypatch, wire):
    monkeypatch.setenv("CNNVIZ_WIRE", wire)
    w = trainer(steps=3)
    page = Frontend(w)
    try:
        with pytest.raises(ViewError, match="press Start"):
            w.save(tmp_path / "early.pt")
        page.checkpoint()
        assert "press Start" in w.error and page.received == []
        page.dismiss()
        w.run()
        w.wait()
        assert "checkpoint" not in w.get_state()  # the file travels only when asked for, not in the view's state
        saved = w.save(tmp_path / "fast.pt")
        (tmp_path / "page.pt").write_bytes(downloaded(page))  # what the page's Download checkpoint saves
        assert (tmp_path / "page.pt").read_bytes() == w.training.checkpoint()
        target = photo(11, (27, 41))
        expected = pixels(w.apply(target))
        for path in (saved, tmp_path / "page.pt"):
            loaded = FastStyle.load(path, w.net, images=PHOTOS)
            assert loaded.step == 3
            np.testing.assert_array_equal(as_picture(loaded.apply(target)), expected)
    finally:
        w.close()


def test_apply_and_the_pages_sample_or_upload_stylise_a_photo_in_one_pass():
    w = trainer(steps=2)
    page = Frontend(w)
    try:
        with pytest.raises(ViewError, match="nothing is trained yet: press Start"):
            w.apply(photo(1))
        page.sample("cat")
        assert "press Start" in w.error and w.stylised is None
        page.dismiss()
        page.run()
        w.wait()
        target = photo(12, (30, 44))
        got = w.apply(target)
        x = torch.from_numpy(np.array(target)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            by_hand = w.training.run.transform(x)  # the network's own forward pass on the photo's pixels
        assert got.size == (44, 30) and w.stylised is got
        np.testing.assert_array_equal(pixels(got), as_picture(by_hand))
        assert w.apply(target, size=64).size == (64, 44)
        page.sample("cat")
        assert w.error == "" and w.stylised.size == cw.sample_image("cat").size
        page.upload("mine.png", png_bytes(photo(13, (18, 26))))
        assert w.error == "" and w.stylised.size == (26, 18)
        page.upload("broken.png", b"not a picture")
        assert "broken.png" in w.error and w.stylised.size == (26, 18)
        page.dismiss()
        page.upload("huge.png", png_bytes(photo(14, (40, 1100))))  # the page's photos at most 1024 px
        assert w.error == "" and w.stylised.size == (1024, round(40 * 1024 / 1100))
        assert "huge.png at 1024 px" in w.status and "1100 px" in w.status
        assert w.apply(photo(14, (40, 1100))).size == (1100, 40)  # Python's apply() takes any size
    finally:
        w.close()


def test_the_notes_say_which_photos_it_trains_on_with_and_without_scikit_images(monkeypatch):
    net = cw.Net(small_cnn().eval())
    w = cw.FastStyleTrainer(net, STYLE, start=False, **TINY)
    trained = training_photos()
    assert set(trained).isdisjoint({"cat", "coffee"})
    assert w.notes[0] == f"trains on {len(trained)} photo(s) of the offline set (not the cat or coffee)"
    assert w.notes[1] == "previews the held-out coffee photo"
    w.close()
    bundled = {name: cw.sample_image(name) for name in ("cat", "coffee")}
    monkeypatch.setattr(cw.datasets, "photos", lambda: dict(bundled))  # as without scikit-image
    w = cw.FastStyleTrainer(net, STYLE, start=False, **TINY)
    assert list(training_photos()) == ["cat"]
    assert w.notes[0].startswith("trains on the cat photo alone (scikit-image") and "not the cat" not in w.notes[0]
    w.close()


def test_a_superseded_trainings_summary_is_not_shown():
    w = trainer(steps=2)
    try:
        w.run()
        w.wait()
        assert w.status.startswith("done: step 2/2")
        current = w._styling.settings
        assert w.summary(current, None, "done", 1.0).startswith("done: step 2/2")
        assert w.summary(w.freeze(), None, "stopped", 1.0) == ""  # equal settings, but another Start's
    finally:
        w.close()


def test_bad_values_from_python_raise_with_the_valid_ones():
    with pytest.raises(SettingError, match=r"size must be a number in 32\.\.1024, got 8"):
        trainer(size=8)
    with pytest.raises(ArgumentTypeError, match="unknown setting.*octaves.*the settings are: steps, size, batch"):
        trainer(octaves=3)
    with pytest.raises(ArgumentTypeError, match="start must be True or False"):
        trainer(start="yes")
    with pytest.raises(ImageError, match="images is empty"):
        trainer(images=[])
    with pytest.raises(ImageError, match="style 1"):
        cw.FastStyleTrainer(cw.Net(small_cnn().eval()), "no-such-style.png", images=PHOTOS, start=False)
    with pytest.raises(ArgumentTypeError, match="net must be a cnnviz_widgets Net"):
        cw.FastStyleTrainer("resnet", STYLE)
    w = trainer()
    with pytest.raises(SettingError, match=r"lr must be a number in 1e-06\.\.1"):
        w.lr = -1
    with pytest.raises(SettingError, match="steps"):
        w.steps = 0
    assert w.lr == TINY["lr"] and w.steps == 6
    w.close()


def test_bad_values_from_the_page_go_to_the_banner_and_the_form_keeps_the_old_one():
    w = trainer()
    page = Frontend(w)
    page.set(width=1000)
    assert "width must be a number in 4..128" in w.error and w.width == 4
    page.dismiss()
    page.set(width=8, style_weight=2.5)
    assert w.error == "" and w.width == 8 and w.style_weight == 2.5
    page.run()
    w.wait()
    assert w.training.run.settings["width"] == 8 and w.training.run.settings["style_weight"] == 2.5
    page.set(lr=0.02)
    assert w.status.startswith("settings changed: Start begins again")
    page.sample("no-such-sample")
    assert "no-such-sample" in w.error
    w.close()
