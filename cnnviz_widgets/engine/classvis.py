"""Class visualisation: a picture the network takes for a chosen class, by gradient ascent on the class's score.

Two recipes, as presets of the one feature-visualisation loop (:class:`~.featurevis.Visualization`):

- ``"cs231n"``: Simonyan et al. 2014 as cs231n's assignment 3 does it. Raw pixels in the model's normalised space,
  starting from standard normal noise there; each step adds 25 times the gradient of the class score minus
  1e-3 times the image's sum of squares, inside a random circular shift of up to 16 px, then clamps the picture
  into [0, 1] and blurs it (sigma 0.5) every 10 steps. 100 steps. Fast, noisy, recognisable textures.
- ``"distill"``: Olah et al. 2017 (Distill's "Feature Visualization"): a 1/f-scaled spectrum in decorrelated
  colours, squashed by a sigmoid, seen through the standard pad/jitter/scale/rotate transforms, optimised by Adam.
  Smoother, more natural-looking pictures; 64 steps (on EfficientNet-Lite0, 32 already give the class a probability
  above 0.99: benchmarks/bench_classvis.py).

Both run at the model's input size, and both are stoppable and resumable like any visualisation. Multifaceted
visualisation (several pictures of one class, each started from a cluster of its images) is :mod:`.facets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from .checks import check_choice, check_int
from .featurevis import Box, FeatureVisError, Frame, Objective, Roll, Visualization, class_logit
from .featurevis.optimize import MAX_BATCH
from .images import ImageLike
from .model import Net
from .progress import Update, last
from .schema import Option


@dataclass(frozen=True)
class Preset:
    """A recipe: the :class:`Visualization` keywords and the number of steps."""

    settings: Mapping[str, Any]
    steps: int
    about: str


CLASS_PRESETS: Dict[str, Preset] = {
    "cs231n": Preset(
        dict(param="pixel", space="normalized", decorrelate=False, squash="clamp", rule="ascent", lr=25.0,
             l2_sum=1e-3, blur_every=10, blur_sigma=0.5, transforms=Roll(16), constraint=Box(), sd=1.0),
        100,
        "Simonyan et al. 2014 as in cs231n: pixel ascent, L2, jitter 16, blur every 10",
    ),
    "distill": Preset(
        dict(param="fft", decorrelate=True, squash="sigmoid", transforms=True, rule="adam", lr=0.05),
        64,
        "Olah et al. 2017: FFT, decorrelated colours, transforms, Adam",
    ),
}  # fmt: skip
"""The class-visualisation recipes by name (see the module's docstring)."""
PRESETS: Tuple[str, ...] = tuple(CLASS_PRESETS)

CLASS_OPTIONS: Tuple[Option, ...] = (
    Option("preset", "recipe", "choice", "distill", choices=PRESETS, group="recipe",
           help="cs231n: pixel ascent as in the assignment; distill: FFT, decorrelated colours, transforms, Adam"),
    Option("steps", "steps", "int", None, low=0, high=100_000, optional=True, group="recipe",
           help="steps to take; empty: the recipe's own (cs231n 100, distill 64)"),
    Option("seed", "seed", "int", 0, low=0, high=2**31 - 1, group="recipe",
           help="seeds the random start and the jitter: a run repeats on the same device"),
)  # fmt: skip
"""The tunable settings of :class:`ClassVisualization` (its keyword arguments of the same names)."""


def target_objective(target: int, batch: int) -> Objective:
    """The class score of every picture of a batch of ``batch``, summed (so each picture's gradient is its own)."""
    if batch == 1:
        return class_logit(target)
    total = class_logit(target, 0)
    for i in range(1, batch):
        total = total + class_logit(target, i)
    return total


class ClassVisualization:
    """Pictures that maximise the score of class ``target`` by one recipe of :data:`CLASS_PRESETS`.

    Parameters
    ----------
    net : Net or nn.Module
        The network; a bare module gets ImageNet preprocessing. Never changed.
    target : int
        The class, 0..classes - 1.
    preset : str
        ``"distill"`` (default: on the default model it gives the class a probability above 0.99 within 64 steps,
        measured in benchmarks/bench_classvis.py) or ``"cs231n"`` (the assignment's recipe, for comparison).
    steps : int, optional
        Steps :meth:`steps` takes by default; ``None``: the recipe's own.
    seed : int
        Seeds the random start and the jitter.
    init : image or tensor, optional
        Start from this picture (a float tensor ``(C, H, W)`` or ``(B, C, H, W)`` in [0, 1] gives B pictures at once,
        as the facets do), instead of the recipe's noise.
    """

    def __init__(
        self,
        net: Union[Net, nn.Module],
        target: int,
        preset: str = "distill",
        *,
        steps: Optional[int] = None,
        seed: int = 0,
        init: Optional[ImageLike] = None,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        classes = self.net.num_classes
        self.target = check_int("target", target, 0, classes - 1, error=FeatureVisError)
        self.preset = check_choice("preset", preset, PRESETS, error=FeatureVisError)
        recipe = CLASS_PRESETS[self.preset]
        self.goal = recipe.steps if steps is None else check_int("steps", steps, 0, 100_000, error=FeatureVisError)
        seed = check_int("seed", seed, 0, 2**31 - 1, error=FeatureVisError)
        batch = 1
        if isinstance(init, torch.Tensor) and init.dim() == 4:
            batch = check_int("the batch of init", init.shape[0], 1, MAX_BATCH, error=FeatureVisError)
        self.vis = Visualization(
            self.net, target_objective(self.target, batch), self.net.preprocess.size, batch=batch, seed=seed,
            init=init, **recipe.settings,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"ClassVisualization({self.net.label(self.target)!r}, preset={self.preset!r}, step={self.vis.step})"

    @property
    def step(self) -> int:
        """Steps taken so far."""
        return self.vis.step

    @property
    def curve(self) -> List[float]:
        """The objective (the class score, summed over the batch) before every step so far."""
        return self.vis.curve

    def image(self) -> torch.Tensor:
        """The pictures now, ``(B, C, S, S)`` in [0, 1] on the CPU (S: the model's input size)."""
        return self.vis.image()

    def steps(self, steps: Optional[int] = None, every: int = 1) -> Iterator[Update[Frame]]:
        """Take ``steps`` more steps (``None``: on to the step count given when made, or none if it got there), one
        :class:`~.progress.Update` after each, with a :class:`~.featurevis.Frame` every ``every`` steps and after
        the last. Stop iterating to stop; a later call goes on (Resume)."""
        n = max(self.goal - self.vis.step, 0) if steps is None else steps
        return self.vis.steps(n, every)

    def probabilities(self) -> List[float]:
        """The model's softmax probability of the class for each picture now (one forward pass each)."""
        x = torch.addcmul(-self.vis.mean / self.vis.std, self.image().to(self.vis.mean), 1 / self.vis.std)
        return [self.net.prob(x[i : i + 1].to(self.net.dtype), self.target) for i in range(len(x))]


def class_visualization_steps(
    net: Union[Net, nn.Module], target: int, preset: str = "distill", *, steps: Optional[int] = None, seed: int = 0,
    init: Optional[ImageLike] = None, every: int = 1,
) -> Iterator[Update[Frame]]:  # fmt: skip
    """The updates of a :class:`ClassVisualization` run to its step count (arguments checked at once)."""
    return ClassVisualization(net, target, preset, steps=steps, seed=seed, init=init).steps(None, every)


def class_visualization(
    net: Union[Net, nn.Module], target: int, preset: str = "distill", *, steps: Optional[int] = None, seed: int = 0,
    init: Optional[ImageLike] = None,
) -> torch.Tensor:  # fmt: skip
    """The final pictures ``(B, C, S, S)`` in [0, 1] of a :class:`ClassVisualization` run to its step count."""
    return last(class_visualization_steps(net, target, preset, steps=steps, seed=seed, init=init, every=0)).image
