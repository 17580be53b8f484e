"""Training a :class:`~.network.TransformNet` for one style (Johnson et al. 2016), and stylising with it.

Gatys et al. optimise every picture anew; Johnson et al. train a network once so that its output for any photo has
the photo's content features and the style's Gram matrices, both measured by a fixed loss network (here the user's
model, on the engine's replica, by the fast truncated copy when it can be made). The losses are the recipe's of
:func:`~..style.presets.preset_for`: its layers and weights, relative errors when its weights are relative, SWAG's
softmax when its remedy says so. The style's Gram matrices are computed once; the content targets are the training
photos' own features, recomputed for every batch.

Training batches are random square crops (40-90 % of the short side, flipped half the time) of photos, drawn from a
seeded generator, so a run stopped and resumed, or saved and loaded, takes exactly the steps an uninterrupted run
takes. Checkpoints hold state dicts and plain values only (read back with ``torch.load(weights_only=True)``).

Johnson's setup (2 epochs of COCO, batch 4, 256 px, width 32, 5 residual blocks) takes hours on a GPU; the defaults
here (:data:`DEFAULTS`) are a small network trained on small crops, which learns a recognisable style in minutes on a
laptop CPU. Everything runs on the loss network's device.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..checkpoints import check_state, read_state
from ..checks import check_int
from ..errors import ImageError, ModelError, SettingError
from ..hooks import capture
from ..images import ImageLike, load_image, pixels, sample_image
from ..model import Net
from ..progress import Update
from ..replica import private, replica
from ..schema import Option, check_settings
from ..style.features import check_layers, features
from ..style.losses import gram_matrix, smooth
from ..style.presets import Preset, preset_for
from ..truncated import Truncated
from .network import TransformNet

FAST_OPTIONS = (
    Option("size", "crop size", "int", 128, 32, 1024, group="training", unit="px",
           help="Side of the training crops (Johnson's: 256)"),
    Option("batch", "batch", "int", 4, 1, 64, group="training", help="Crops per step (Johnson's: 4)"),
    Option("width", "width", "int", 16, 4, 128, group="network",
           help="Channels of the network's first convolution (Johnson's: 32)"),
    Option("blocks", "residual blocks", "int", 3, 0, 16, group="network", help="Johnson's: 5"),
    Option("lr", "learning rate", "float", 5e-3, 1e-6, 1.0, group="training", help="Adam's step size"),
    Option("content_weight", "content weight", "float", 5.0, 0.0, 1e6, group="losses",
           help="Multiplies the recipe's content weight"),
    Option("style_weight", "style weight", "float", 0.2, 0.0, 1e6, group="losses",
           help="Multiplies the recipe's style weights: above 1 more style, below 1 more of the photo"),
    Option("tv", "total variation", "float", None, 0.0, 1e6, group="losses", optional=True,
           help="Weight of the penalty on neighbouring pixels' differences (default: the recipe's)"),
    Option("seed", "seed", "int", 0, 0, 2**31 - 1, group="training",
           help="Seeds the network's initial weights and the crops"),
)  # fmt: skip
"""The settings of :class:`FastStyle` (its keyword arguments of the same names and defaults)."""
DEFAULTS: Dict[str, Any] = {option.name: option.default for option in FAST_OPTIONS}
"""The small configuration: a network of width 16 with 3 residual blocks, trained on batches of 4 crops of 128 px by
Adam at 5e-3, with 5 times the recipe's content weight and 1/50 of its style weights (a feed-forward network, unlike
an optimised picture, does not start from the photo: at the recipe's balance it forgets the photo). Measured by
``benchmarks/bench_faststyle.py``."""
STEPS = 1000
"""Steps of the small configuration: a recognisable style that keeps the photo, judged on held-out photos (about 2
minutes on an idle 2-core CPU, 0.12 s a step)."""
PREVIEW_SIDE = 256
"""Longest side of the held-out preview photo, in pixels."""
HELD_OUT = ("cat", "coffee")
"""The bundled photos kept out of the default training set, for previews and judging."""
CROP = (0.4, 0.9)
"""Side of a training crop, as a share of its photo's short side."""
VERSION = 1
"""Format of :meth:`FastStyle.state_dict`."""


class FastFrame(NamedTuple):
    """A snapshot of training: steps taken, the held-out photo stylised then (``(1, 3, H, W)`` in [0, 1], on the
    CPU) and the weighted losses of the last step (``content``, ``style``, ``tv``, ``total``)."""

    step: int
    preview: torch.Tensor
    losses: Dict[str, float]


def training_photos() -> Dict[str, Image.Image]:
    """The default training set by name: the offline image set's photos (:func:`cnnviz_widgets.datasets.photos`)
    except the bundled cat and coffee (:data:`HELD_OUT`); just the cat when scikit-image's photos are not installed."""
    from ...datasets import photos  # the data set module builds on the engine, not the other way round

    found = photos()
    kept = {name: picture for name, picture in found.items() if name not in HELD_OUT}
    return kept or {"cat": found["cat"]}


def picture(image: Union[ImageLike, torch.Tensor], side: Optional[int] = None) -> torch.Tensor:
    """``image`` as ``(1, 3, H, W)`` float32 in [0, 1] on the CPU, its longest side made ``side`` when given; a float
    tensor ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] is taken as it is (no rounding to 8 bits)."""
    if isinstance(image, torch.Tensor) and image.is_floating_point() and image.dim() in (3, 4):
        x = (image[None] if image.dim() == 3 else image).detach().float().cpu()
        if x.shape[:2] != (1, 3) or not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise ImageError(f"expected one RGB picture (1, 3, H, W) or (3, H, W) in [0, 1], got {tuple(image.shape)}")
        if side is not None and max(x.shape[-2:]) != side:
            k = side / max(x.shape[-2:])
            size = [max(1, round(s * k)) for s in x.shape[-2:]]
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        return x
    img = load_image(image)
    if side is not None and max(img.size) != side:
        k = side / max(img.size)
        img = img.resize((max(1, round(img.size[0] * k)), max(1, round(img.size[1] * k))))
    return pixels(img)[None]


def cpu_copy(state: Any) -> Any:
    """``state`` (a state dict: tensors in dicts, lists and tuples) with every tensor detached and copied to the CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {key: cpu_copy(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(cpu_copy(value) for value in state)
    return state


class LossNet:
    """The user's model seen as a loss network: the outputs of ``layers`` for a batch of pictures in [0, 1], by the
    fast truncated copy (rebuilt when the model's weights change) or, if it cannot be made, by a hooked forward of the
    replica that stops after the last of them. The model itself is never touched.

    Parameters
    ----------
    net : Net
        The model.
    layers : sequence of str
        The layers read.
    shape : tuple of int
        The ``(B, 3, H, W)`` of the batches (the copy is checked on one).
    """

    def __init__(self, net: Net, layers: Sequence[str], shape: Sequence[int]):
        self.net, self.layers, self.shape = net, tuple(dict.fromkeys(layers)), tuple(shape)
        prep, device = net.preprocess, net.device
        self.mean = torch.tensor(prep.mean, device=device).reshape(1, -1, 1, 1)
        self.std = torch.tensor(prep.std, device=device).reshape(1, -1, 1, 1)
        self.layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
        probe = self._normalised(torch.rand(*self.shape, generator=torch.Generator().manual_seed(0)).to(device))
        with private(net) as model, torch.no_grad(), capture(model, self.layers) as record:
            record.forward(model, probe)
        self.until = {name: len(record.outputs[name]) for name in self.layers}
        self.fast = self._truncated(probe)

    def _normalised(self, pictures: torch.Tensor) -> torch.Tensor:
        x = ((pictures - self.mean) / self.std).to(self.net.dtype)
        return x.contiguous(memory_format=self.layout)

    def _hooked(self, model: nn.Module, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        with capture(model, self.layers, until=self.until) as record:
            record.forward(model, x)
        return {name: record[name] for name in self.layers}

    def _truncated(self, probe: torch.Tensor) -> Optional[Truncated]:
        with private(self.net) as model, torch.no_grad():
            return Truncated.build(model, self.layers, probe, self._hooked(model, probe))

    def __call__(self, pictures: torch.Tensor, grad: bool) -> Dict[str, torch.Tensor]:
        """The layers' outputs (float32) for ``pictures`` ``(B, 3, H, W)`` in [0, 1] on the model's device; with
        ``grad``, differentiable with respect to the pictures."""
        if self.fast is not None and (not self.fast.fresh or replica(self.net) is not self.fast.model):
            self.fast = self._truncated(self._normalised(torch.rand(*self.shape, device=self.mean.device)))
        with private(self.net) as model, torch.set_grad_enabled(grad):
            x = self._normalised(pictures)
            acts = self.fast(x) if self.fast is not None and tuple(x.shape) == self.shape else self._hooked(model, x)
            return {name: value.float() for name, value in acts.items()}


class FastStyle:
    """Johnson et al.'s fast style transfer: a :class:`~.network.TransformNet` trained to paint photos in one style.

    Parameters
    ----------
    net : Net or nn.Module
        The loss network (never changed); its recipe (:func:`~..style.presets.preset_for`) gives the layers and
        weights. Training runs on its device.
    style : image
        The style picture; it is seen with its longest side the crop size times the recipe's ``style_scale``.
    images : sequence or mapping of images, optional
        The training photos (a mapping's values); default :func:`training_photos`.
    preview : image
        The held-out photo stylised for every frame (longest side :data:`PREVIEW_SIDE`); default the bundled coffee.
    preset : Preset, optional
        The recipe of the loss network, instead of the model's own.
    size, batch, width, blocks, lr, content_weight, style_weight, tv, seed
        The settings of :data:`FAST_OPTIONS`.

    Attributes
    ----------
    transform : TransformNet
        The network being trained (on the loss network's device).
    curves : dict of str to list of float
        The weighted losses of every step taken.
    """

    options = FAST_OPTIONS

    def __init__(
        self,
        net: Union[Net, nn.Module],
        style: ImageLike,
        *,
        images: Optional[Union[Sequence[ImageLike], Mapping[str, ImageLike]]] = None,
        preview: Optional[ImageLike] = None,
        preset: Optional[Preset] = None,
        **settings: Any,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        self.settings = s = check_settings(FAST_OPTIONS, settings, "FastStyle")
        self.preset = preset if preset is not None else preset_for(self.net)
        if not isinstance(self.preset, Preset):
            raise SettingError(f"preset must be a style Preset (engine.style.PRESETS), got {preset!r}")
        if self.net.preprocess.channels != 3:
            raise SettingError(
                f"fast style transfer needs a colour (3-channel) model; {self.net.name} takes "
                f"{self.net.preprocess.channels} channel(s)"
            )
        check_layers(self.net, self.preset.layers)
        with torch.inference_mode(False):  # tensors made in a caller's inference_mode could not be trained
            self.device = self.net.device
            self.photos = self._photos(images)
            self.preview = picture(sample_image("coffee") if preview is None else preview, PREVIEW_SIDE)
            self.style = picture(style, max(16, round(s["size"] * self.preset.style_scale)))
            self.relative = self.preset.remedy != "none"
            self.temperature = self.preset.temperature if self.preset.remedy == "softmax" else None
            self.tv = self.preset.tv if s["tv"] is None else s["tv"]
            self.loss_net = LossNet(self.net, self.preset.layers, (s["batch"], 3, s["size"], s["size"]))
            style_layers = [layer for layer, _ in self.preset.style]
            maps = features(self.net, self.style, style_layers)
            self.grams = {layer: gram_matrix(self._prepared(maps[layer])).to(self.device) for layer in style_layers}
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s["seed"])
                self.transform = TransformNet(s["width"], s["blocks"]).to(self.device)
            self.optimizer = torch.optim.Adam(self.transform.parameters(), lr=s["lr"])
            self.rng = torch.Generator().manual_seed(s["seed"])
            self.step = 0
        self.curves: Dict[str, List[float]] = {"content": [], "style": [], "tv": [], "total": []}

    # -- set-up ---------------------------------------------------------------------------------------------
    @staticmethod
    def _photos(images: Optional[Union[Sequence[ImageLike], Mapping[str, ImageLike]]]) -> List[torch.Tensor]:
        """The training photos as ``(3, H, W)`` tensors in [0, 1] on the CPU."""
        if images is None:
            images = training_photos()
        if isinstance(images, Mapping):
            images = list(images.values())
        elif isinstance(images, (str, os.PathLike, bytes, torch.Tensor)) or not isinstance(images, Sequence):
            raise ImageError(
                f"images must be a list of training photos (PIL images, paths, arrays...), got {type(images).__name__}"
            )
        if len(images) == 0:
            raise ImageError("images is empty: give at least one training photo, or None for the offline photo set")
        return [picture(image)[0] for image in images]

    def _prepared(self, maps: torch.Tensor) -> torch.Tensor:
        """Features as the losses compare them: softened by SWAG's softmax when the recipe says so."""
        return maps if self.temperature is None else smooth(maps, self.temperature)

    # -- training -------------------------------------------------------------------------------------------
    def batch(self) -> torch.Tensor:
        """The next training batch ``(batch, 3, size, size)`` in [0, 1] on the device: random square crops of random
        photos, flipped half the time (from the seeded generator, so a resumed run draws what an uninterrupted one
        would)."""
        size, rng, crops = self.settings["size"], self.rng, []
        for _ in range(self.settings["batch"]):
            photo = self.photos[int(torch.randint(len(self.photos), (1,), generator=rng))]
            height, width = photo.shape[-2:]
            low, high = CROP
            u, v, w, flip = torch.rand(4, generator=rng).tolist()
            side = max(1, round((low + (high - low) * u) * min(height, width)))
            top, left = round(v * (height - side)), round(w * (width - side))
            crop = photo[None, :, top : top + side, left : left + side]
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            crops.append(crop.flip(-1) if flip < 0.5 else crop)
        return torch.cat(crops).clamp(0, 1).to(self.device)

    def losses(self, photos: torch.Tensor, out: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The weighted losses of the network's ``out`` for ``photos`` (means over the batch): ``content``,
        ``style``, ``tv`` and their ``total``."""
        s, preset = self.settings, self.preset
        layer, weight = preset.content
        target = self._prepared(self.loss_net(photos, grad=False)[layer])
        acts = self.loss_net(out, grad=True)
        content = (self._prepared(acts[layer]) - target).pow(2).flatten(1).sum(1)
        if self.relative:
            content = content / target.pow(2).flatten(1).sum(1).clamp_min(1e-12)
        style = out.new_zeros(())
        for name, share in preset.style:
            gram, goal = gram_matrix(self._prepared(acts[name])), self.grams[name]
            term = (gram - goal).pow(2).flatten(1).sum(1).mean()
            style = style + share * (term / goal.pow(2).sum().clamp_min(1e-12) if self.relative else term)
        pixels_seen = self.loss_net._normalised(out).float() if preset.space == "normalized" else out
        down = (pixels_seen[..., 1:, :] - pixels_seen[..., :-1, :]).pow(2).flatten(1).sum(1)
        across = (pixels_seen[..., :, 1:] - pixels_seen[..., :, :-1]).pow(2).flatten(1).sum(1)
        parts = {
            "content": s["content_weight"] * weight * content.mean(),
            "style": s["style_weight"] * style,
            "tv": self.tv * (down + across).mean(),
        }
        parts["total"] = parts["content"] + parts["style"] + parts["tv"]
        return parts

    def _step(self) -> Dict[str, float]:
        """One optimiser step on a fresh batch; the losses before it."""
        with torch.inference_mode(False), torch.enable_grad():  # also inside a caller's no_grad or inference_mode
            photos = self.batch()
            parts = self.losses(photos, self.transform(photos))
            if not torch.isfinite(parts["total"]):
                raise SettingError(
                    f"the loss became {float(parts['total'])} at step {self.step + 1}: lower lr "
                    f"(now {self.settings['lr']:g})"
                )
            self.optimizer.zero_grad(set_to_none=True)
            parts["total"].backward()
            self.optimizer.step()
        self.step += 1
        values = {name: float(value.detach()) for name, value in parts.items()}
        for name, value in values.items():
            self.curves[name].append(value)
        return values

    def steps(self, steps: int = STEPS, every: int = 10) -> Iterator[Update[FastFrame]]:
        """Train ``steps`` more steps, one update after each, with a :class:`FastFrame` every ``every`` steps (0:
        none) and after the last. Stop iterating to stop; call again to resume where it stopped.

        Parameters
        ----------
        steps : int
            Steps to take.
        every : int
            Steps between two frames (each stylises the preview photo once).
        """
        count = check_int("steps", steps, 0, 10**7)
        every = check_int("every", every, 0)
        return self._steps(count, every)

    def _steps(self, count: int, every: int) -> Iterator[Update[FastFrame]]:
        if count == 0:
            yield Update(1.0, self.frame({}))
        for i in range(count):
            values = self._step()
            shown = i == count - 1 or (every > 0 and (i + 1) % every == 0)
            yield Update((i + 1) / count, self.frame(values) if shown else None)

    def frame(self, losses: Dict[str, float]) -> FastFrame:
        """The current :class:`FastFrame` with these losses."""
        return FastFrame(self.step, self.apply(self.preview), dict(losses))

    # -- stylising ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def apply(self, image: Union[ImageLike, torch.Tensor], size: Optional[int] = None) -> torch.Tensor:
        """``image`` in the learnt style, by one forward pass: ``(1, 3, H, W)`` in [0, 1] on the CPU.

        Parameters
        ----------
        image : image or torch.Tensor
            A photo of any size (a float tensor ``(1, 3, H, W)`` in [0, 1] is used as it is).
        size : int, optional
            Longest side in pixels to resize it to first; by default its own.
        """
        x = picture(image, None if size is None else check_int("size", size, 16, 4096))
        return self.transform(x.to(self.device)).float().cpu()

    # -- checkpoints ----------------------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """Everything a resumed run needs, as tensors and plain values: the settings, the steps taken, the
        network's and the optimiser's state dicts, the crop generator's state, the style and preview pictures and
        the loss curves. A copy on the CPU: training on afterwards leaves it as it is."""
        return {
            "version": VERSION,
            "settings": dict(self.settings),
            "preset": asdict(self.preset),
            "step": self.step,
            "transform": cpu_copy(self.transform.state_dict()),
            "optimizer": cpu_copy(self.optimizer.state_dict()),
            "rng": self.rng.get_state(),
            "style": self.style.clone(),
            "preview": self.preview.clone(),
            "curves": {name: list(values) for name, values in self.curves.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state`` (what :meth:`state_dict` returned, of a run with the same network settings)."""
        check_state(self.transform, state["transform"], "the checkpoint's transformation network")
        self.transform.load_state_dict(state["transform"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.set_state(state["rng"])
        self.step = int(state["step"])
        self.curves = {name: list(values) for name, values in state["curves"].items()}

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write :meth:`state_dict` to ``path`` (``torch.save``) and return the path."""
        torch.save(self.state_dict(), path)
        return Path(path)

    @classmethod
    def load(
        cls,
        path: Union[str, os.PathLike],
        net: Union[Net, nn.Module],
        *,
        images: Optional[Union[Sequence[ImageLike], Mapping[str, ImageLike]]] = None,
    ) -> "FastStyle":
        """A run restored from a checkpoint that :meth:`save` wrote, read with ``weights_only=True``.

        Parameters
        ----------
        path : str or os.PathLike
            The checkpoint.
        net : Net or nn.Module
            The loss network it was trained with (the checkpoint holds its recipe).
        images : sequence or mapping of images, optional
            As for :class:`FastStyle` (the training photos are not in the checkpoint).
        """
        state: Dict[str, Any] = dict(read_state(path, Path(path).name))
        if state.get("version") != VERSION or "transform" not in state or "preset" not in state:
            raise ModelError(f"{Path(path).name} is not a FastStyle checkpoint (FastStyle.save writes them)")
        run = cls(
            net,
            state["style"],
            images=images,
            preview=state["preview"],
            preset=Preset(**state["preset"]),
            **dict(state["settings"]),
        )
        run.load_state_dict(state)
        return run
