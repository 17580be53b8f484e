"""Gradient ascent on a parameterised image, one step at a time, stoppable and resumable.

Each step is self-contained: it runs a fast, cut copy of the model (:mod:`..truncated`) or, where that cannot
be made, hooks the layers the objective reads on the engine's replica of the model and stops the forward pass
right after the deepest of them, removing the hooks before returning. So a run can be abandoned between any
two steps, the user's model is never touched, and the thousandth run is as fast as the first.
"""

from __future__ import annotations

import math
import random
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import torch
from torch import nn

from ..checks import check_int
from ..errors import SettingError
from ..hooks import capture
from ..images import ImageLike, load_image, pixels
from ..model import Net
from ..progress import Update, last
from ..replica import private, replica
from ..schema import Option, check_settings
from ..truncated import Truncated
from .objectives import OUTPUT, FeatureVisError, Objective, Shapes, as_objective
from .param import PARAMS, SQUASHES, ImageParam
from .regularizers import PixelRegularizers, l2, total_variation
from .transforms import Robustness, upsampled

MAX_SIZE = 2048
MAX_BATCH = 64


class Frame(NamedTuple):
    """A snapshot of a run: the step reached, the images then and the objective's value at that step."""

    step: int
    image: torch.Tensor  # (B, C, size, size) in [0, 1], on the CPU: C is 3, or 1 for a grayscale model
    value: float


PIXEL_ONLY = (("param", ("pixel",)),)
"""The condition of Yosinski et al.'s pixel regularisers: they act on raw pixels."""

VISUALIZATION_OPTIONS: Tuple[Option, ...] = (
    Option(
        "param",
        "parameterisation",
        "choice",
        "fft",
        choices=PARAMS,
        group="picture",
        help="Optimise a 1/f-scaled spectrum (fft, readable pictures) or the raw pixels",
    ),
    Option(
        "decorrelate",
        "decorrelate colours",
        "bool",
        True,
        group="picture",
        help="Optimise in ImageNet's decorrelated colour space (colour models only)",
    ),
    Option(
        "squash",
        "squash",
        "choice",
        "sigmoid",
        choices=SQUASHES,
        group="picture",
        help="How values are mapped into [0, 1]: a sigmoid, or clamping",
    ),
    Option(
        "transforms",
        "transforms",
        "bool",
        True,
        group="picture",
        help="Pad, jitter, scale and rotate the picture every step, so only robust patterns win",
    ),
    Option("lr", "learning rate", "float", 0.05, 1e-4, 10.0, group="optimiser", help="Adam's learning rate"),
    Option(
        "seed",
        "seed",
        "int",
        0,
        0,
        2**31 - 1,
        group="optimiser",
        help="Seeds the random start and the transforms: a run repeats on the same device",
    ),
    Option(
        "tv",
        "total variation",
        "float",
        0.0,
        0.0,
        100.0,
        group="regularisers",
        help="Weight of the penalty on differences between neighbouring pixels (smoother pictures)",
    ),
    Option(
        "l2",
        "L2",
        "float",
        0.0,
        0.0,
        100.0,
        group="regularisers",
        help="Weight of the penalty on the distance from mid-grey (less saturated colours)",
    ),
    Option(
        "decay",
        "decay",
        "float",
        0.0,
        0.0,
        0.5,
        group="regularisers",
        help="Shrink the pixels towards grey by this share every step",
        when=PIXEL_ONLY,
    ),
    Option(
        "blur_every",
        "blur every",
        "int",
        0,
        0,
        1000,
        group="regularisers",
        help="Blur the pixels every this many steps (0: never)",
        when=PIXEL_ONLY,
        unit="steps",
    ),
    Option(
        "blur_sigma",
        "blur width",
        "float",
        0.5,
        0.1,
        10.0,
        group="regularisers",
        help="Standard deviation of that blur",
        when=PIXEL_ONLY,
        unit="px",
    ),
    Option(
        "clip_norm",
        "clip by norm",
        "float",
        0.0,
        0.0,
        99.0,
        group="regularisers",
        help="Share of pixels of smallest norm set to grey every step",
        when=PIXEL_ONLY,
        unit="%",
    ),
    Option(
        "clip_contribution",
        "clip by contribution",
        "float",
        0.0,
        0.0,
        99.0,
        group="regularisers",
        help="Share of pixels contributing least to the objective set to grey every step",
        when=PIXEL_ONLY,
        unit="%",
    ),
)
"""The tunable settings of :class:`Visualization` (its keyword arguments of the same names and defaults)."""


class Visualization:
    """Activation maximisation (Erhan et al. 2009; Olah et al. 2017): optimise images so that an objective
    of the network's activations is as large as possible.

    Parameters
    ----------
    net : Net or nn.Module
        The network; a bare module gets ImageNet normalisation (in grey for a one-channel model). Its weights
        are never changed.
    objective : Objective or str
        What to maximise, e.g. ``channel("layer3", 5)`` or ``"layer3:5"``.
    size : int
        Side of the optimised square images in pixels. What the model sees is the image plus the transforms'
        border, upsampled to the model's input size when smaller (as lucent does).
    batch : int
        Number of images optimised together (for batch objectives such as ``channels`` or ``diversity``).
    param : str
        ``"fft"`` (1/f-scaled spectrum, default) or ``"pixel"``.
    decorrelate : bool
        Optimise in ImageNet's decorrelated colour space (colour models only: a grayscale model's one channel
        has no colours to decorrelate, see :class:`ImageParam`).
    squash : str
        ``"sigmoid"`` or ``"clamp"`` into [0, 1].
    lr : float
        Adam's learning rate.
    transforms : bool or Robustness
        ``True`` for the standard padding, jitter, scaling and rotation; ``False`` for none; or your own.
    tv, l2 : float
        Weights of the total-variation and L2 penalties on the image.
    decay, blur_every, blur_sigma, clip_norm, clip_contribution
        Yosinski et al.'s pixel regularisers (``param="pixel"`` only); see :class:`PixelRegularizers`.
    seed : int
        Seeds the random start and the transforms: a run is reproducible on the same device.
    init : image, optional
        Start from this picture (resized to ``size``, grey for a grayscale model) instead of noise, as
        DeepDream does.

    The tunable settings (all but ``net``, ``objective``, ``size``, ``batch`` and ``init``) are declared in
    :data:`VISUALIZATION_OPTIONS` (:attr:`options`), with their ranges, and checked against it.
    """

    options = VISUALIZATION_OPTIONS

    def __init__(
        self,
        net: Union[Net, nn.Module],
        objective: Union[Objective, str],
        size: int = 224,
        *,
        batch: int = 1,
        param: str = "fft",
        decorrelate: bool = True,
        squash: str = "sigmoid",
        lr: float = 0.05,
        transforms: Union[bool, Robustness] = True,
        tv: float = 0.0,
        l2: float = 0.0,
        decay: float = 0.0,
        blur_every: int = 0,
        blur_sigma: float = 0.5,
        clip_norm: float = 0.0,
        clip_contribution: float = 0.0,
        seed: int = 0,
        init: Optional[ImageLike] = None,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        self.objective = as_objective(objective)
        self.size = check_int("size", size, 1, MAX_SIZE, error=FeatureVisError)
        self.batch = check_int("batch", batch, 1, MAX_BATCH, error=FeatureVisError)
        custom = transforms if isinstance(transforms, Robustness) else None
        if custom is None and not isinstance(transforms, bool):
            raise FeatureVisError(f"transforms must be True, False or a Robustness, got {transforms!r}")
        given = dict(param=param, decorrelate=decorrelate, squash=squash, transforms=custom is not None or transforms)
        given.update(lr=lr, seed=seed, tv=tv, l2=l2, decay=decay, blur_every=blur_every, blur_sigma=blur_sigma)
        given.update(clip_norm=clip_norm, clip_contribution=clip_contribution)
        try:
            settings = check_settings(VISUALIZATION_OPTIONS, given)
        except SettingError as exc:
            raise FeatureVisError(str(exc)) from None
        self.settings = settings
        """The checked values of the options (``transforms`` as True for a custom :class:`Robustness`)."""
        self.lr = settings["lr"]
        self.weights = (settings["tv"], settings["l2"])
        self.pixel_ops = PixelRegularizers(
            *(settings[name] for name in ("decay", "blur_every", "blur_sigma", "clip_norm", "clip_contribution"))
        )
        if self.pixel_ops.active and settings["param"] != "pixel":
            raise FeatureVisError(
                "decay, blur_every, clip_norm and clip_contribution act on raw pixels: use param='pixel' with them, "
                "or tv/l2, which work with every parameterisation"
            )
        self.robustness = custom or (Robustness() if settings["transforms"] else None)

        with torch.inference_mode(False):  # tensors made in a caller's inference_mode could not be optimised
            device = self.net.device
            self.dtype = self.net.dtype
            prep = self.net.preprocess
            self.channels = prep.channels  # the images have as many channels as the model's input: 3, or 1 (grey)
            self.mean = torch.tensor(prep.mean, device=device).reshape(1, self.channels, 1, 1)
            self.std = torch.tensor(prep.std, device=device).reshape(1, self.channels, 1, 1)
            self.generator = torch.Generator().manual_seed(settings["seed"])  # the random start
            self.rng = random.Random(settings["seed"])  # the transforms' draws
            self.image_param = ImageParam(
                (self.batch, self.channels, self.size, self.size),
                settings["param"],
                settings["decorrelate"],
                settings["squash"],
                generator=self.generator,
                device=device,
            )
            if init is not None:
                picture = load_image(init).convert("L" if self.channels == 1 else "RGB").resize((self.size, self.size))
                self.image_param.set_image(pixels(picture, self.channels)[None])
            self.optimizer = torch.optim.Adam(self.image_param.params, lr=self.lr, fused=device.type in ("cpu", "cuda"))
            # Channels-last activations make oneDNN's CPU convolutions and their backward ~15-35% faster.
            self.layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
            self.hooked = sorted(self.objective.layers - {OUTPUT})
            self.out, self.until, shapes = self._probe()
            self.objective.check(shapes, self.batch)
            self.fast = self._truncated()
        self.step = 0
        self.curve: List[float] = []

    # -- probing --------------------------------------------------------------------------------------------
    def _forward(
        self, model: nn.Module, x: torch.Tensor, until: Optional[Dict[str, int]]
    ) -> Tuple[Dict[str, List[torch.Tensor]], Optional[torch.Tensor]]:
        """Every call's output of the hooked layers of ``model`` (the replica), and the logits unless the pass
        stopped early."""
        with capture(model, self.hooked, until=until) as record:
            logits = record.forward(model, x)
        return record.outputs, logits

    def _attempt(
        self, side: int, until: Optional[Dict[str, int]]
    ) -> Union[str, Tuple[Dict[str, List[torch.Tensor]], Optional[torch.Tensor]]]:
        """:meth:`_forward` of a zero ``side`` x ``side`` image, or torch's complaint (a str) if the model cannot
        run on it."""
        x = torch.zeros(1, self.channels, side, side, device=self.net.device, dtype=self.dtype)
        try:
            with private(self.net) as model, torch.no_grad():
                return self._forward(model, x, until)
        except RuntimeError as exc:
            return str(exc).split("\n")[0]

    def _probe(self) -> Tuple[int, Dict[str, int], Shapes]:
        """What the model sees (side), how often each hooked layer is called, and the activation shapes.

        The model sees the padded image upsampled to its input size; a model that only takes its own input
        size (a fixed ``Linear`` after ``flatten``) gets exactly that. Images below the smallest size the
        model accepts are refused, with that size in the message.
        """
        wanted = self.net.preprocess.size
        pad = self.robustness.pad if self.robustness is not None else 0
        sides = [max(self.size + 2 * pad, wanted), wanted]
        for side in dict.fromkeys(sides):
            attempt = self._attempt(side, None)
            if isinstance(attempt, str):
                problem = attempt
                continue
            outputs, logits = attempt
            missing = [name for name in self.hooked if not outputs[name]]
            if missing:
                raise FeatureVisError(
                    f"layer(s) {', '.join(missing)} are never called in a forward pass of {self.net.name}"
                )
            shapes = {name: tuple(outputs[name][-1].shape[1:]) for name in self.hooked}
            if OUTPUT in self.objective.layers:
                if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
                    raise FeatureVisError("class_logit needs a model that returns (N, classes) logits")
                shapes[OUTPUT] = tuple(logits.shape[1:])
            until = {name: len(outputs[name]) for name in self.hooked} if OUTPUT not in self.objective.layers else {}
            break
        else:
            raise FeatureVisError(f"{self.net.name} cannot run on {sides[-1]}x{sides[-1]} images: {problem}")
        if isinstance(self._attempt(self.size, until), str):
            raise FeatureVisError(
                f"size {self.size} is below the smallest image {self.net.name} can run up to the objective's layer: "
                f"use size >= {self._smallest(until)}"
            )
        return side, until, shapes

    def _smallest(self, until: Dict[str, int]) -> int:
        """The smallest side the model runs on up to the objective (bisection between the size and the input size)."""
        low, high = self.size, max(self.net.preprocess.size, self.size + 1)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if isinstance(self._attempt(mid, until), str) else (low, mid)
        return high

    def _truncated(self) -> Optional[Truncated]:
        """The cut, folded copy of the model for the objective's layers, checked on a random image."""
        layers = sorted(self.objective.layers)
        x = torch.rand(1, self.channels, self.out, self.out, generator=torch.Generator().manual_seed(0))
        x = ((x.to(self.net.device) - self.mean) / self.std).to(self.dtype).contiguous(memory_format=self.layout)
        with private(self.net) as model, torch.no_grad():
            reference = self._hooked(model, x)
            return Truncated.build(model, layers, x, reference, self.objective.channels())

    def _hooked(self, model: nn.Module, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The objective's activations by the model's own forward (stopped after the last hooked layer)."""
        outputs, logits = self._forward(model, x, self.until or None)
        acts = {name: outputs[name][-1] for name in self.hooked}
        if logits is not None:
            acts[OUTPUT] = logits
        return acts

    def _fast(self) -> Optional[Truncated]:
        """The fast copy, rebuilt first if the model's weights or module tree changed since it was made."""
        if self.fast is not None and (not self.fast.fresh or replica(self.net) is not self.fast.model):
            self.fast = self._truncated()
        return self.fast

    # -- optimisation ---------------------------------------------------------------------------------------
    def image(self) -> torch.Tensor:
        """The current images, ``(B, C, size, size)`` in [0, 1] (C = 1 for a grayscale model), detached on the CPU."""
        with torch.no_grad():
            return self.image_param().float().cpu()

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised batch the model sees this step (transformed, or just upsampled)."""
        if self.robustness is not None:
            x = self.robustness(images, self.out, self.rng)
        else:
            x = upsampled(images, self.out)
        x = torch.addcmul(-self.mean / self.std, x, 1 / self.std).to(self.dtype)  # (x - mean) / std in one op
        return x.contiguous(memory_format=self.layout)

    def _step(self) -> float:
        """One optimiser step; the objective's value before it. Raises on a non-finite value or gradient."""
        tensor = self.image_param.tensor
        fast = self._fast()
        with private(self.net) as model:
            images = self.image_param()
            x = self._input(images)
            value = self.objective(fast(x) if fast is not None else self._hooked(model, x))
            loss = -value
            tv, l2_weight = self.weights
            if tv:
                loss = loss + tv * total_variation(images)
            if l2_weight:
                loss = loss + l2_weight * l2(images)
            (grad,) = torch.autograd.grad(loss, tensor)
            number = float(value.detach())
            if not math.isfinite(number) or not math.isfinite(
                float(grad.sum())
            ):  # a NaN or inf anywhere spreads to the sum
                what = "gradient" if math.isfinite(number) else "objective"
                raise FeatureVisError(
                    f"the {what} became NaN or infinite at step {self.step + 1}; the run stopped with the last good "
                    f"image. Try a smaller lr (now {self.lr:g}), "
                    "the sigmoid squash, or an objective on an earlier layer"
                )
            if grad.stride() != tensor.stride():  # the fused CPU Adam walks both in memory order: layouts must agree
                grad = torch.empty_like(tensor).copy_(grad)
            tensor.grad = grad
            self.optimizer.step()
            tensor.grad = None
            self.step += 1
            if self.pixel_ops.active:
                self.pixel_ops.apply(tensor.data, -grad, self.step)
        self.curve.append(number)
        return number

    def steps(self, steps: int, every: int = 1) -> Iterator[Update[Frame]]:
        """Take ``steps`` more steps, one :class:`~..progress.Update` after each: the share of them done, and a
        :class:`Frame` whenever the total step count is a multiple of ``every`` and after the last (else none).

        Stop iterating (or close the generator) to stop after the step in progress; a later call goes on from
        the step reached (Resume). The arguments are checked at once, not at the first step.

        Parameters
        ----------
        steps : int
            Steps to take now, 0..1,000,000 (0 gives one update with the current picture).
        every : int
            How often an update carries a frame (copying the picture to the CPU costs a little every time); 0: only
            the last, for a caller that renders its own frames with :meth:`image` when it wants one.
        """
        steps = check_int("steps", steps, 0, 1_000_000, error=FeatureVisError)
        every = check_int("every", every, 0, 1_000_000, error=FeatureVisError)
        return self._steps(steps, every)

    def _steps(self, steps: int, every: int) -> Iterator[Update[Frame]]:
        start, end = self.step, self.step + steps
        if steps == 0:
            yield Update(1.0, Frame(self.step, self.image(), self.curve[-1] if self.curve else math.nan))
        while self.step < end:
            value = self._step()
            shown = self.step == end or (every > 0 and self.step % every == 0)
            yield Update((self.step - start) / steps, Frame(self.step, self.image(), value) if shown else None)


def feature_visualization(
    net: Union[Net, nn.Module],
    objective: Union[Objective, str],
    size: int = 224,
    steps: int = 256,
    param: str = "fft",
    lr: float = 0.05,
    *,
    every: int = 8,
    **settings,
) -> Iterator[Frame]:
    """Frames of a feature visualisation as it is optimised (settings are checked before the first frame); stop
    iterating to stop it.

    Parameters
    ----------
    net, objective, size, param, lr
        As for :class:`Visualization`; ``settings`` takes its other keyword arguments.
    steps : int
        Number of optimiser steps.
    every : int
        A frame every this many steps, and one after the last (0: only that one).
    """
    updates = Visualization(net, objective, size, param=param, lr=lr, **settings).steps(steps, every)
    return (update.result for update in updates if update.result is not None)


def visualize(
    net: Union[Net, nn.Module], objective: Union[Objective, str], size: int = 224, steps: int = 256, **settings
) -> torch.Tensor:
    """The optimised images, ``(B, C, size, size)`` in [0, 1] (C: the model's input channels, 3 or 1):
    :func:`feature_visualization` run to the end."""
    vis = Visualization(net, objective, size, **settings)
    last(vis.steps(steps, every=0))
    return vis.image()
