"""Fooling images (Szegedy et al. 2014; cs231n assignment 3): change a photo a little, so that the model predicts a
class of our choosing while a person still sees the photo.

Both modes are gradient steps on the model's own input (the photo as preprocessed: resized or cropped to what the
model sees), taken by feature visualisation's one loop (:class:`~.featurevis.Visualization`) on the target's logit,
and both stop as soon as the model predicts the target:

- ``"unconstrained"``, as in the assignment: in the normalised input space, each step of length 1 along the
  gradient (the gradient divided by its L2 norm), the picture kept in [0, 1];
- ``"bounded"``: projected gradient (Madry et al. 2018): each pixel moves by a fixed step in the direction of its
  gradient's sign, then the picture is put back within ``epsilon`` (in 1/255 of the displayed image) of the photo.

What the run shows (:class:`Fooled`): the fooled picture, the change magnified to fill the grey scale (by how much is
said), the top-5 classes of the photo and of the picture now, and how large the change is in grey levels.
"""

from __future__ import annotations

from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .checks import check_int
from .errors import FeatureVisError, SettingError
from .featurevis import OUTPUT, Ball, Box, Constraint, Visualization, class_logit
from .images import ImageLike, load_image, pixels
from .model import Net, Prediction
from .progress import Update, last
from .schema import Option, check_settings

MODES = ("unconstrained", "bounded")
"""How the photo may change: freely (cs231n's normalised ascent), or within an L-infinity ball around it (PGD)."""
UNCONSTRAINED_LR = 1.0
"""cs231n's step: length 1 in the normalised input space."""
BOUNDED_STEP = 0.25
"""The bounded mode's default step per pixel, as a share of ``epsilon`` (chosen by measurement: see
``benchmarks/bench_fooling.py``)."""
TOP_K = 5

FOOLING_OPTIONS: Tuple[Option, ...] = (
    Option(
        "mode",
        "mode",
        "choice",
        "unconstrained",
        choices=MODES,
        group="fooling",
        help="unconstrained: cs231n's normalised ascent; bounded: projected gradient within epsilon of the photo",
    ),
    Option(
        "epsilon",
        "epsilon",
        "float",
        8.0,
        0.5,
        255.0,
        group="fooling",
        unit="/255",
        help="Largest change of any pixel, in grey levels of the displayed image",
        when=(("mode", ("bounded",)),),
    ),
    Option("steps", "steps", "int", 100, 1, 100_000, group="run", help="Most steps a run takes to fool the model"),
    Option(
        "lr",
        "step size",
        "float",
        None,
        0.05,
        10.0,
        optional=True,
        group="run",
        help="Empty: the mode's own (unconstrained: 1, in normalised units; bounded: a quarter of epsilon, in /255)",
    ),
    Option(
        "seed",
        "seed",
        "int",
        0,
        0,
        2**31 - 1,
        group="run",
        help="Seeds the loop's random generators (neither mode draws from them: a run repeats exactly)",
    ),
)
"""The settings of :class:`Fooling` (its keyword arguments of the same names and defaults)."""


def check_not_predicted(predictions: Sequence[Prediction], target: int) -> int:
    """``target``, unless it is the class the model predicts (``predictions[0]``, of a top-k list): then an error that
    says so and offers the runner-up.

    Parameters
    ----------
    predictions : sequence of Prediction
        The photo's top classes, most probable first (empty: nothing to refuse).
    target : int
        The class asked for.
    """
    if not predictions or predictions[0].index != target:
        return target
    top = predictions[0]
    offer = f", e.g. the runner-up {predictions[1].index} ({predictions[1].label})" if len(predictions) > 1 else ""
    raise FeatureVisError(
        f"the model already predicts class {top.index} ({top.label}) for this image: choose another target{offer}"
    )


class Fooled(NamedTuple):
    """Where a fooling run is: the picture, the change and what the model says of the photo and of the picture.

    ``reached`` says whether the model predicts the target: by the loop's own verdict (the one that ends the run, on
    its forward pass in the model's dtype) or by the top-1 of ``after`` (on the picture as shown). The two may
    disagree where the target and the runner-up are within rounding of each other; a run the loop ended counts as
    fooled. ``image`` and ``difference`` are ``(C, H, W)`` in [0, 1] on the CPU (C = 3, or 1 for a grayscale model);
    ``difference`` is ``0.5 + gain * (image - photo)``: the change magnified ``gain`` times around mid-grey, so that
    the largest change reaches black or white. ``max_change`` and ``mean_change`` are the largest and the mean
    absolute change of a pixel value in 1/255 of the displayed image; ``value`` is the target's logit before the
    last step (NaN before the first).
    """

    image: torch.Tensor
    reached: bool
    steps: int
    target: int
    difference: torch.Tensor
    gain: float
    max_change: float
    mean_change: float
    before: List[Prediction]
    after: List[Prediction]
    value: float


class Fooling:
    """Make ``image`` into a picture the model classifies as ``target``, step by step (see the module's docstring).

    Parameters
    ----------
    net : Net or nn.Module
        The classifier; a bare module gets ImageNet preprocessing. It is never modified.
    image : PIL image, array, tensor, path or bytes
        The photo; the run changes what the model sees of it (resized or cropped as the model's preprocessing says).
    target : int
        The class the model should predict: a class index other than the photo's prediction.
    mode : str
        ``"unconstrained"`` or ``"bounded"`` (:data:`MODES`).
    epsilon : float
        Bounded mode: the largest change of any pixel, in 1/255 of the displayed image (0.5..255: below half a grey
        level, saving the picture in 8 bits would undo the change).
    steps : int
        The most steps a run takes; it stops earlier once the model predicts the target.
    lr : float, optional
        The step: unconstrained, its length in the normalised input (default 1, as cs231n); bounded, each pixel's
        change per step in 1/255 (default ``epsilon * BOUNDED_STEP``).
    seed : int
        Seeds the loop's random generators; neither mode draws from them, so a run repeats exactly.

    Raises
    ------
    FeatureVisError
        For a setting outside :data:`FOOLING_OPTIONS`, a target that is no class of the model (the message names the
        range) or that the model already predicts (the message offers the runner-up).
    """

    options = FOOLING_OPTIONS

    def __init__(
        self,
        net: Union[Net, nn.Module],
        image: ImageLike,
        target: int,
        *,
        mode: str = "unconstrained",
        epsilon: float = 8.0,
        steps: int = 100,
        lr: Optional[float] = None,
        seed: int = 0,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        given = dict(mode=mode, epsilon=epsilon, steps=steps, lr=lr, seed=seed)
        try:
            settings = check_settings(FOOLING_OPTIONS, given, owner="Fooling")
        except SettingError as exc:
            raise FeatureVisError(str(exc)) from None
        self.settings = settings
        """The checked settings (``lr`` as given: ``None`` for the mode's own)."""
        self.mode, self.epsilon, self.budget = settings["mode"], settings["epsilon"], settings["steps"]
        classes = self.net.num_classes
        self.target = check_int("target", target, 0, classes - 1, error=FeatureVisError)
        view = self.net.view(load_image(image))
        channels = self.net.preprocess.channels
        self.photo = pixels(view, channels)[None]
        """The photo as the model sees it, ``(1, C, H, W)`` in [0, 1] on the CPU."""
        self.before = self._top(self.photo)
        """The photo's top-5 classes."""
        check_not_predicted(self.before, self.target)
        self.lr = settings["lr"] if settings["lr"] is not None else self._default_lr()
        """The step actually used (see ``lr`` above for its unit)."""
        self.vis = self._visualization(settings["seed"])
        self._shown: Optional[Tuple[int, List[Prediction]]] = None

    def _default_lr(self) -> float:
        return UNCONSTRAINED_LR if self.mode == "unconstrained" else self.epsilon * BOUNDED_STEP

    def _visualization(self, seed: int) -> Visualization:
        """The loop: class ``target``'s logit on the photo, with this mode's space, rule, step and constraint."""
        target = self.target

        def until(acts: dict) -> bool:
            return int(acts[OUTPUT][0].argmax()) == target

        constraint: Constraint
        if self.mode == "unconstrained":  # cs231n: a step of length lr in the normalised input, kept displayable
            space, rule, lr, constraint = "normalized", "l2", self.lr, Box()
        else:  # projected gradient: every pixel moves lr/255 by the gradient's sign, then back into the ball
            space, rule, lr = "unit", "sign", self.lr / 255
            constraint = Ball(self.photo.to(self.net.device), self.epsilon / 255)
        return Visualization(
            self.net, class_logit(target), self.net.preprocess.size, param="pixel", decorrelate=False,
            squash="clamp", transforms=False, space=space, rule=rule, lr=lr, constraint=constraint, init=self.photo,
            until=until, seed=seed,
        )  # fmt: skip

    # -- the run ----------------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Steps taken so far."""
        return self.vis.step

    def steps(self, n: Optional[int] = None, every: int = 1) -> Iterator[Update[Fooled]]:
        """Take up to ``n`` more steps, fewer if the model comes to predict the target; one update after each, with a
        :class:`Fooled` whenever the step count is a multiple of ``every`` and at the end.

        Stop iterating to stop after the step in progress; a later call goes on from there (Resume).

        Parameters
        ----------
        n : int, optional
            Steps to take now (0..1,000,000); default: what is left of ``steps``.
        every : int
            How often an update carries a :class:`Fooled` (each costs a forward pass for the top-5); 0: only the last.
        """
        if n is None:
            n = max(0, self.budget - self.vis.step)
        updates = self.vis.steps(n, every)  # checks n and every at once
        return self._steps(updates)

    def _steps(self, updates: Iterator[Update]) -> Iterator[Update[Fooled]]:
        for update in updates:
            yield Update(update.fraction, self.frame() if update.result is not None else None)

    def frame(self) -> Fooled:
        """Where the run is now (one forward pass for the picture's top-5, unless already made at this step)."""
        image = self.vis.image()
        change = image - self.photo
        largest = float(change.abs().max())
        gain = 0.5 / largest if largest > 0 else 1.0
        if self._shown is None or self._shown[0] != self.vis.step:
            self._shown = (self.vis.step, self._top(image))
        curve = self.vis.curve
        after = self._shown[1]
        return Fooled(
            image=image[0],
            reached=self.vis.reached or after[0].index == self.target,
            steps=self.vis.step,
            target=self.target,
            difference=(0.5 + gain * change[0]).clamp(0, 1),
            gain=gain,
            max_change=255 * largest,
            mean_change=255 * float(change.abs().mean()),
            before=self.before,
            after=after,
            value=curve[-1] if curve else float("nan"),
        )

    def _top(self, image: torch.Tensor) -> List[Prediction]:
        """The top-5 classes of a ``(1, C, H, W)`` picture in [0, 1]."""
        prep = self.net.preprocess
        mean = torch.tensor(prep.mean).reshape(1, -1, 1, 1)
        std = torch.tensor(prep.std).reshape(1, -1, 1, 1)
        x = ((image - mean) / std).to(self.net.device, self.net.dtype)
        return self.net.top(x, TOP_K)


def fooling_steps(
    net: Union[Net, nn.Module], image: ImageLike, target: int, *, every: int = 1, **settings
) -> Iterator[Update[Fooled]]:
    """The updates of a whole :class:`Fooling` run (its ``steps``, fewer once the model predicts the target).

    Parameters
    ----------
    net, image, target
        As for :class:`Fooling`; ``settings`` takes its keyword arguments (checked before the first update).
    every : int
        An update carries a :class:`Fooled` every this many steps, and the last one always.
    """
    return Fooling(net, image, target, **settings).steps(every=every)


def fool(net: Union[Net, nn.Module], image: ImageLike, target: int, **settings) -> Fooled:
    """Fool ``net`` into predicting ``target`` for ``image``: the picture where the run ended (``reached`` says
    whether the model predicts the target), the change in 1/255 units and the top-5 before and after.

    Parameters
    ----------
    net, image, target
        As for :class:`Fooling`; ``settings`` takes its keyword arguments (``mode``, ``epsilon``, ``steps``, ``lr``,
        ``seed``).
    """
    return last(fooling_steps(net, image, target, every=0, **settings))
