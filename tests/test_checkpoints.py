"""Features across training (engine.checkpoints): each snapshot shows its own checkpoint's weights, as a model loaded
by hand with that checkpoint computes them, and a bad checkpoint fails, named, before anything is shown."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnviz_widgets.engine import checkpoints as ckpt
from cnnviz_widgets.engine.attribution import deconvnet
from cnnviz_widgets.engine.checkpoints import across_training, across_training_steps
from cnnviz_widgets.engine.errors import ArgumentTypeError, ImageError, LayerError, ModelError

from .conftest import Untouched, mixed_state, seeded_image


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.body = nn.Conv2d(4, 5, 3, padding=1)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        y = torch.relu(self.body(torch.relu(self.bn(self.stem(x)))))
        return self.head(y.mean(dim=(2, 3)))


def trained(epoch: int) -> dict:
    """The state of "epoch" ``epoch``: random weights, batch-norm statistics that matter in eval mode, and a
    first layer set by hand, different in every epoch."""
    torch.manual_seed(100 + epoch)
    model = Tiny()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.stem.weight.copy_(torch.arange(4 * 27.0).view(4, 3, 3, 3).sin() * (epoch + 1) + epoch)
        model.stem.weight[epoch, 0] = 5.0  # one tile with a bright red corner block, a new one each epoch
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def saved(tmp_path):
    """Three epochs' states and their files; the second as a DataParallel training script saves it."""
    states = [trained(e) for e in range(3)]
    paths = [tmp_path / f"epoch{e}.pt" for e in range(3)]
    torch.save(states[0], paths[0])
    torch.save({"model_state_dict": {"module." + k: v for k, v in states[1].items()}, "epoch": 1}, paths[1])
    torch.save(states[2], paths[2])
    return states, paths


def reference_map(state: dict, x: torch.Tensor, channel: int) -> torch.Tensor:
    """Channel ``channel`` of ``body`` in a fresh model loaded with ``state``, hooked by hand, in eval mode."""
    model = Tiny()
    model.load_state_dict(state)
    model.eval()
    seen = []
    handle = model.body.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen[0][0, channel]


def test_each_snapshot_shows_its_checkpoint_and_the_users_model_stays_as_it_was(saved):
    states, paths = saved
    torch.manual_seed(7)
    model = mixed_state(Tiny())  # train mode on some modules: maps must still be eval-mode ones
    x = seeded_image(1, 3, 10, 10, seed=3)
    fractions, sizes = [], []
    with Untouched(model):
        for update in across_training_steps(model, x, paths, layer="body", channel=2):
            fractions.append(update.fraction)
            sizes.append(len(update.result))
            snapshots = update.result
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0]) and sizes == [1, 2, 3]
    assert [s.name for s in snapshots] == ["epoch0.pt", "epoch1.pt", "epoch2.pt"]
    for state, snap in zip(states, snapshots):
        w = state["stem.weight"]
        assert snap.filters.layer == "stem" and snap.filters.kind == "rgb" and torch.equal(snap.filters.weights, w)
        low = w.flatten(1).min(1).values.view(-1, 1, 1, 1)
        high = w.flatten(1).max(1).values.view(-1, 1, 1, 1)
        torch.testing.assert_close(snap.filters.tiles, (w - low) / (high - low))
        expected = reference_map(state, x, 2)
        torch.testing.assert_close(snap.channel_map, expected)
        top = (expected == expected.max()).nonzero()[0]
        assert snap.strongest == (int(top[0]), int(top[1]))
        fresh = Tiny()
        fresh.load_state_dict(state)  # the projection is that checkpoint's own, not the last one loaded
        y, x0 = snap.strongest
        torch.testing.assert_close(snap.projection.pixels, deconvnet(fresh.eval(), x, f"body:2:{y}:{x0}")[0])
    assert not torch.equal(snapshots[0].channel_map, snapshots[1].channel_map)
    assert not torch.equal(snapshots[0].projection.pixels, snapshots[2].projection.pixels)


def test_names_come_from_keys_files_or_positions_and_filters_only_without_a_layer(saved, tmp_path):
    states, paths = saved
    model = Tiny()
    named = across_training(model, None, {"start": paths[0], "end": states[2]})
    assert [s.name for s in named] == ["start", "end"] and named[1].channel_map is None and named[1].strongest is None
    assert torch.equal(named[1].filters.weights, states[2]["stem.weight"])
    listed = across_training(model, None, [states[1], paths[2]], first="body")
    assert [s.name for s in listed] == ["checkpoint 0", "epoch2.pt"]
    assert listed[0].filters.kind == "grey" and torch.equal(listed[0].filters.weights, states[1]["body.weight"])
    (tmp_path / "run2").mkdir()
    twin = tmp_path / "run2" / "epoch0.pt"
    torch.save(states[1], twin)
    assert [s.name for s in across_training(model, None, [paths[0], twin])] == [str(paths[0]), str(twin)]


def test_every_checkpoint_is_checked_before_the_first_is_shown_and_then_read_one_at_a_time(saved, monkeypatch):
    _, paths = saved
    reads = []
    real = ckpt.read_state

    def counted(source, name, map_location="cpu"):
        reads.append(name)
        return real(source, name, map_location)

    monkeypatch.setattr(ckpt, "read_state", counted)
    steps = across_training_steps(Tiny(), None, paths)
    next(steps)
    assert reads == ["epoch0.pt", "epoch1.pt", "epoch2.pt", "epoch0.pt"]
    next(steps)
    assert reads[4:] == ["epoch1.pt"]


def bad(tmp_path, state, file="bad.pt"):
    path = tmp_path / file
    torch.save(state, path)
    return path


def first_update(model, paths, **kwargs):
    """The first update of a run over ``paths``, which must fail: the error is raised before anything is shown."""
    with Untouched(model):
        next(across_training_steps(model, None, paths, **kwargs))


def test_wrong_keys_and_shapes_are_named_with_the_checkpoint(saved, tmp_path):
    states, paths = saved
    model = Tiny()
    keys = dict(states[0])
    del keys["body.bias"]
    keys["stem.scale"] = torch.ones(1)
    with pytest.raises(ModelError, match=r"bad\.pt does not fit the model \(Tiny\): 1 missing key: body\.bias; "):
        first_update(model, [*paths, bad(tmp_path, keys)])
    with pytest.raises(ModelError, match=r"1 unexpected key: stem\.scale"):
        first_update(model, [*paths, bad(tmp_path, keys)])
    # 9 keys are missing; the batch norm's step counter, which old checkpoints lack, is not counted
    head_only = {k: v for k, v in states[0].items() if k.startswith("head")}
    with pytest.raises(ModelError, match=r"8 missing keys: stem\.weight, stem\.bias, bn\.weight, \.\.\. \(5 more\)"):
        first_update(model, [paths[0], head_only])
    shapes = dict(states[0], **{"stem.weight": torch.zeros(4, 3, 5, 5)})
    mismatch = r"1 shape mismatch: stem\.weight \(4, 3, 5, 5\) in the checkpoint, \(4, 3, 3, 3\) in the model"
    with pytest.raises(ModelError, match=mismatch):
        first_update(model, {"good": paths[0], "wide": shapes})
    no_counter = {k: v for k, v in states[0].items() if not k.endswith("num_batches_tracked")}
    assert torch.equal(across_training(model, None, [no_counter])[0].filters.weights, states[0]["stem.weight"])


def test_a_model_instead_of_weights_is_refused_with_what_to_pass(saved, tmp_path):
    _, paths = saved
    model = Tiny()
    pickled = tmp_path / "whole.pt"
    torch.save(Tiny(), pickled)
    with pytest.raises(ModelError, match=r"whole\.pt is not a weights-only checkpoint: it holds a pickled .*Tiny.*"):
        first_update(model, [paths[0], pickled])
    with pytest.raises(ModelError, match=r"torch\.save\(model\.state_dict\(\), path\)"):
        first_update(model, [paths[0], pickled])
    with pytest.raises(ModelError, match=r"checkpoint 1 is a model \(Tiny\), not its weights; pass model\.state_dict"):
        first_update(model, [paths[0], Tiny()])


def test_a_missing_file_and_bad_arguments_are_refused(saved, tmp_path):
    states, paths = saved
    model = Tiny()
    with pytest.raises(ModelError, match=r"no checkpoint file at '.*nowhere\.pt'"):
        first_update(model, [paths[0], tmp_path / "nowhere.pt"])
    with pytest.raises(ArgumentTypeError, match="a single state dict"):
        first_update(model, states[0])
    with pytest.raises(ArgumentTypeError, match="must be a list"):
        first_update(model, str(paths[0]))
    with pytest.raises(ArgumentTypeError, match="empty"):
        first_update(model, [])
    with pytest.raises(LayerError, match=r"'bn' is a BatchNorm2d, not a convolution.*stem, body"):
        first_update(model, paths, first="bn")
    x = seeded_image(1, 3, 8, 8)
    with pytest.raises(LayerError, match=r"channel must be a number in 0\.\.4, got 5"):
        next(across_training_steps(model, x, paths, layer="body", channel=5))
    with pytest.raises(LayerError, match="unknown layer 'body2'"):
        next(across_training_steps(model, x, paths, layer="body2"))
    with pytest.raises(ImageError, match=r"one image, shape \(1, C, H, W\); got shape \(2, 3, 8, 8\)"):
        next(across_training_steps(model, torch.cat([x, x]), paths, layer="body"))
