"""Gradient ascent on a parameterised image, one step at a time, stoppable and resumable.

Each step is self-contained: it runs a fast, cut copy of the model (:mod:`..truncated`) or, where that cannot
be made, hooks the layers the objective reads on the engine's replica of the model and stops the forward pass
right after the deepest of them, removing the hooks before returning. So a run can be abandoned between any
two steps, the user's model is never touched, and the thousandth run is as fast as the first.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import torch
from torch import nn

from ..hooks import capture
from ..images import ImageLike, load_image, pixels
from ..model import Net
from ..replica import private, replica
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


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FeatureVisError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _number(name: str, value: object, low: float, high: float = math.inf, *, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        bound = f"{'>' if open_low else '>='} {low:g}" + ("" if high == math.inf else f" and <= {high:g}")
        raise FeatureVisError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


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
    """

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
        self.size = _whole("size", size, 1, MAX_SIZE)
        self.batch = _whole("batch", batch, 1, MAX_BATCH)
        if param not in PARAMS:
            raise FeatureVisError(f"unknown parameterisation {param!r}; choose one of: {', '.join(PARAMS)}")
        if squash not in SQUASHES:
            raise FeatureVisError(f"unknown squash {squash!r}; choose one of: {', '.join(SQUASHES)}")
        self.lr = _number("lr", lr, 0, 10, open_low=True)
        self.weights = (_number("tv", tv, 0), _number("l2", l2, 0))
        self.pixel_ops = PixelRegularizers(
            _number("decay", decay, 0),
            _whole("blur_every", blur_every, 0, 1_000_000),
            _number("blur_sigma", blur_sigma, 0, open_low=True),
            _number("clip_norm", clip_norm, 0),
            _number("clip_contribution", clip_contribution, 0),
        )
        try:
            self.pixel_ops.check()
        except ValueError as exc:
            raise FeatureVisError(str(exc)) from None
        if self.pixel_ops.active and param != "pixel":
            raise FeatureVisError(
                "decay, blur_every, clip_norm and clip_contribution act on raw pixels: use param='pixel' with them, "
                "or tv/l2, which work with every parameterisation"
            )
        if transforms is True:
            self.robustness: Optional[Robustness] = Robustness()
        elif transforms is False or transforms is None:
            self.robustness = None
        elif isinstance(transforms, Robustness):
            self.robustness = transforms
        else:
            raise FeatureVisError(f"transforms must be True, False or a Robustness, got {transforms!r}")

        with torch.inference_mode(False):  # tensors made in a caller's inference_mode could not be optimised
            device = self.net.device
            self.dtype = self.net.dtype
            prep = self.net.preprocess
            self.channels = prep.channels  # the images have as many channels as the model's input: 3, or 1 (grey)
            self.mean = torch.tensor(prep.mean, device=device).reshape(1, self.channels, 1, 1)
            self.std = torch.tensor(prep.std, device=device).reshape(1, self.channels, 1, 1)
            self.generator = torch.Generator().manual_seed(_whole("seed", seed, 0, 2**63 - 1))  # the random start
            self.rng = random.Random(seed)  # the transforms' draws
            self.image_param = ImageParam(
                (self.batch, self.channels, self.size, self.size),
                param,
                decorrelate,
                squash,
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
        """:meth:`_forward` of a zero ``side`` x ``side`` image, or torch's complaint (a str) if the model cannot run on it."""
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

    def run(self, steps: int, every: int = 8, cancel: Optional[Callable[[], bool]] = None) -> Iterator[Frame]:
        """Take ``steps`` more steps, yielding a :class:`Frame` every ``every`` steps and after the last.

        Parameters
        ----------
        steps : int
            Steps to take now; a later ``run`` continues from here (Resume).
        every : int
            Yield a frame whenever the total step count is a multiple of this.
        cancel : callable, optional
            Checked before every step; when it returns True the run ends after yielding the step reached.
        """
        _whole("steps", steps, 0, 1_000_000)
        _whole("every", every, 1, 1_000_000)
        end, shown = self.step + steps, None
        while self.step < end and not (cancel is not None and cancel()):
            value = self._step()
            if self.step % every == 0 or self.step == end:
                shown = self.step
                yield Frame(self.step, self.image(), value)
        if shown != self.step:
            yield Frame(self.step, self.image(), self.curve[-1] if self.curve else math.nan)


def feature_visualization(
    net: Union[Net, nn.Module],
    objective: Union[Objective, str],
    size: int = 224,
    steps: int = 256,
    param: str = "fft",
    lr: float = 0.05,
    *,
    every: int = 8,
    cancel: Optional[Callable[[], bool]] = None,
    **settings,
) -> Iterator[Frame]:
    """Frames of a feature visualisation as it is optimised (settings are checked before the first frame).

    Parameters
    ----------
    net, objective, size, param, lr
        As for :class:`Visualization`; ``settings`` takes its other keyword arguments.
    steps : int
        Number of optimiser steps.
    every : int
        A frame every this many steps, and one after the last.
    cancel : callable, optional
        Checked before each step; returning True ends the run after one last frame.
    """
    return Visualization(net, objective, size, param=param, lr=lr, **settings).run(steps, every, cancel)


def visualize(
    net: Union[Net, nn.Module], objective: Union[Objective, str], size: int = 224, steps: int = 256, **settings
) -> torch.Tensor:
    """The optimised images, ``(B, C, size, size)`` in [0, 1] (C: the model's input channels, 3 or 1):
    :func:`feature_visualization` run to the end."""
    vis = Visualization(net, objective, size, **settings)
    for _ in vis.run(steps, every=max(steps, 1)):
        pass
    return vis.image()
