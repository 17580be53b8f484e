"""Gradient ascent on a parameterised image, one step at a time, stoppable and resumable.

Each step is self-contained: it runs a fast, cut copy of the model (:mod:`..truncated`) or, where that cannot
be made, hooks the layers the objective reads on the engine's replica of the model and stops the forward pass
right after the deepest of them, removing the hooks before returning. So a run can be abandoned between any
two steps, the user's model is never touched, and the thousandth run is as fast as the first.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..batching import spans
from ..checks import check_choice, check_float, check_int
from ..errors import SettingError
from ..hooks import capture
from ..images import ImageLike, load_image, pixels
from ..model import Net
from ..progress import Update, last
from ..replica import private, replica
from ..schema import Option, check_settings
from ..truncated import Truncated
from .objectives import OUTPUT, Acts, FeatureVisError, Objective, Shapes, as_objective
from .param import PARAMS, SPACES, SQUASHES, ImageParam
from .regularizers import PixelRegularizers, l2, total_variation
from .rules import OPTIMIZERS, RULES, Constraint, descend, project
from .transforms import Robustness, Roll, upsampled

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
    Option(
        "lr",
        "learning rate",
        "float",
        0.05,
        1e-4,
        100.0,
        group="optimiser",
        help="Adam's learning rate, or the step size of another update rule",
    ),
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
    size : int or (int, int)
        Side of the optimised square images in pixels, or their ``(height, width)`` (with ``native``). What the
        model sees is the image plus the transforms' border, upsampled to the model's input size when smaller (as
        lucent does), unless ``native``.
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
    transforms : bool, Robustness or Roll
        ``True`` for the standard padding, jitter, scaling and rotation; ``False`` for none; or your own; or a
        :class:`~.transforms.Roll` (circular jitter, any image shape).
    tv, l2 : float
        Weights of the total-variation and L2 penalties on the image.
    decay, blur_every, blur_sigma, clip_norm, clip_contribution
        Yosinski et al.'s pixel regularisers (``param="pixel"`` only); see :class:`PixelRegularizers`.
    seed : int
        Seeds the random start and the transforms: a run is reproducible on the same device.
    init : image, optional
        Start from this picture (resized to ``size``, grey for a grayscale model) instead of noise, as
        DeepDream does; a float tensor ``(C, H, W)`` or ``(B, C, H, W)`` in [0, 1] is used as it is (interpolated
        if its size differs).
    rule : str
        How a step follows the gradient, one of :data:`~.rules.RULES`: Adam, L-BFGS, or ascent along the gradient as
        it is, over its L2 norm, over its mean absolute value, or its sign, with step ``lr``.
    space : str
        Where the pixels of ``param="pixel"`` with ``squash="clamp"`` live (:data:`~.param.SPACES`), and so what
        ``lr`` measures: ``"unit"`` ([0, 1]), ``"normalized"`` (the model's normalised input, cs231n's) or ``"byte"``
        (0..255, DeepDream's).
    sd : float
        Standard deviation of the random start, in the raw values (cs231n's class images start at 1 in
        ``"normalized"`` space).
    l2_sum : float
        Weight of the sum of squares of the raw values (cs231n's L2 regulariser, in ``"normalized"`` space).
    tv_sum : float
        Weight of the sum of squared differences between neighbouring raw values (cs231n's total variation).
    restarts : mapping of int to float, optional
        After this many steps, the optimiser (Adam, L-BFGS) starts afresh with this learning rate: cs231n's style
        transfer drops Adam's from 3 to 0.1 after 180 steps, ``{180: 0.1}``.
    constraint : Constraint, optional
        What the picture is held to after each step (:class:`~.rules.Box`, :class:`~.rules.Ball`); raw clamped
        pixels only.
    until : callable, optional
        Called with each step's activations (layer name to tensor; :data:`OUTPUT` to the logits when the objective
        reads them) before the step is taken: ``True`` ends the run there, with :attr:`reached` set. Not with ``tile``.
    native : bool
        The model sees the picture at its own size, any height and width (DeepDream's octaves), not upsampled.
    tile : int
        With ``native``: compute the gradient on tiles of at most this side, so memory stays bounded at any size
        (0: never). Only for objectives that are means over positions (:attr:`Objective.tileable`).

    The tunable settings (all but ``net``, ``objective``, ``size``, ``batch`` and ``init``) are declared in
    :data:`VISUALIZATION_OPTIONS` (:attr:`options`), with their ranges, and checked against it.
    """

    options = VISUALIZATION_OPTIONS

    def __init__(
        self,
        net: Union[Net, nn.Module],
        objective: Union[Objective, str],
        size: Union[int, Tuple[int, int]] = 224,
        *,
        batch: int = 1,
        param: str = "fft",
        decorrelate: bool = True,
        squash: str = "sigmoid",
        lr: float = 0.05,
        transforms: Union[bool, Robustness, Roll] = True,
        tv: float = 0.0,
        l2: float = 0.0,
        decay: float = 0.0,
        blur_every: int = 0,
        blur_sigma: float = 0.5,
        clip_norm: float = 0.0,
        clip_contribution: float = 0.0,
        seed: int = 0,
        init: Union[None, ImageLike, torch.Tensor] = None,
        rule: str = "adam",
        space: str = "unit",
        sd: float = 0.01,
        l2_sum: float = 0.0,
        tv_sum: float = 0.0,
        restarts: Optional[Mapping[int, float]] = None,
        constraint: Optional[Constraint] = None,
        until: Optional[Callable[[Acts], bool]] = None,
        native: bool = False,
        tile: int = 0,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        self.objective = as_objective(objective)
        self.height, self.width = _shape(size, native)
        self.size = self.height  # the side of a square picture
        self.batch = check_int("batch", batch, 1, MAX_BATCH, error=FeatureVisError)
        custom = transforms if isinstance(transforms, (Robustness, Roll)) else None
        if custom is None and not isinstance(transforms, bool):
            raise FeatureVisError(f"transforms must be True, False, a Robustness or a Roll, got {transforms!r}")
        resampled = transforms is True or isinstance(custom, Robustness)
        if resampled and (native or self.height != self.width):
            raise FeatureVisError("a native or non-square picture can only be jittered with transforms=Roll(...)")
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
        self.rule = check_choice("rule", rule, RULES, error=FeatureVisError)
        self.space = check_choice("space", space, SPACES, error=FeatureVisError)
        raw_pixels = settings["param"] == "pixel" and settings["squash"] == "clamp" and not settings["decorrelate"]
        if not raw_pixels and (space != "unit" or constraint is not None):
            raise FeatureVisError(
                "space and constraint act on raw pixels: use them with param='pixel', squash='clamp', decorrelate=False"
            )
        if constraint is not None and not isinstance(constraint, Constraint):
            raise FeatureVisError(f"constraint must be a Box, a Ball or None, got {constraint!r}")
        if until is not None and not callable(until):
            raise FeatureVisError(f"until must be a function of the activations, or None, got {until!r}")
        self.constraint, self.until_reached, self.native = constraint, until, bool(native)
        self.l2_sum = check_float("l2_sum", l2_sum, 0.0, error=FeatureVisError)
        self.tv_sum = check_float("tv_sum", tv_sum, 0.0, error=FeatureVisError)
        self.restarts = {
            check_int("restarts step", k, 1, 1_000_000, error=FeatureVisError): check_float(
                "restarts lr", v, 1e-6, 100.0, error=FeatureVisError
            )
            for k, v in (restarts or {}).items()
        }
        if self.rule == "lbfgs" and (self.robustness is not None or constraint is not None or self.pixel_ops.active):
            raise FeatureVisError(
                "rule 'lbfgs' builds its curvature from the steps it proposes on one fixed loss: use it without "
                "transforms, constraint and pixel regularisers (blur, decay, clipping), or use rule 'adam'"
            )
        if self.restarts and self.rule not in OPTIMIZERS:
            raise FeatureVisError(f"restarts start an optimiser afresh: use them with rule in {OPTIMIZERS}")
        self.penalties: Dict[str, float] = {}
        """The value of each penalty in use (``tv``, ``l2``, ``l2_sum``, ``tv_sum``) at the last step, unweighted."""
        sd = check_float("sd", sd, 0.0, 100.0, error=FeatureVisError)
        self.tile = check_int("tile", tile, 0, MAX_SIZE, error=FeatureVisError)
        if self.tile and not self.native:
            raise FeatureVisError("tile needs native=True: tiles cut the picture the model sees at its own size")
        if self.tile and until is not None:
            raise FeatureVisError("until reads the activations of the whole picture, which tiles never compute")
        if max(self.height, self.width) > self.tile > 0 and not self.objective.tileable:
            raise FeatureVisError(
                f"a {self.height}x{self.width} picture is cut into tiles of {self.tile} px, which needs an objective "
                f"that is a mean over positions (a channel or a layer), not {self.objective!r}: use tile=0 or a "
                f"picture of at most {self.tile} px"
            )
        self.reached = False
        """Whether ``until`` said the run had reached its goal, at the last step."""

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
                (self.batch, self.channels, self.height, self.width),
                settings["param"],
                settings["decorrelate"],
                settings["squash"],
                sd=sd,
                generator=self.generator,
                device=device,
                space=self.space,
                norm=(self.mean.flatten().tolist(), self.std.flatten().tolist()),
            )
            if init is not None:
                self.image_param.set_image(self._initial(init))
            self.optimizer = self._optimizer(self.lr)
            # Channels-last activations make oneDNN's CPU convolutions and their backward ~15-35% faster.
            self.layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
            self.hooked = sorted(self.objective.layers - {OUTPUT})
            self.out, self.until, shapes = self._probe()
            self.objective.check(shapes, self.batch)
            self.fast = self._truncated()
        self.step = 0
        self.curve: List[float] = []

    def _optimizer(self, lr: float) -> Optional[torch.optim.Optimizer]:
        """A fresh torch optimiser for the rule at ``lr`` (``None`` for the stateless rules)."""
        if self.rule == "adam":
            fused = self.net.device.type in ("cpu", "cuda")
            return torch.optim.Adam(self.image_param.params, lr=lr, fused=fused)
        if self.rule == "lbfgs":  # one iteration per step: each step is one forward and backward, like Adam's
            return torch.optim.LBFGS(self.image_param.params, lr=lr, max_iter=1, history_size=20)
        return None

    # -- probing --------------------------------------------------------------------------------------------
    def _forward(
        self, model: nn.Module, x: torch.Tensor, until: Optional[Dict[str, int]]
    ) -> Tuple[Dict[str, List[torch.Tensor]], Optional[torch.Tensor]]:
        """Every call's output of the hooked layers of ``model`` (the replica), and the logits unless the pass
        stopped early."""
        with capture(model, self.hooked, until=until) as record:
            logits = record.forward(model, x)
        return record.outputs, logits

    def _initial(self, init: Union[ImageLike, torch.Tensor]) -> torch.Tensor:
        """The starting picture ``(1 or B, C, height, width)`` in [0, 1]: a float tensor as it is (interpolated to the
        size), anything else read as an image and resized."""
        if isinstance(init, torch.Tensor) and init.is_floating_point() and init.dim() in (3, 4):
            x = (init[None] if init.dim() == 3 else init).detach().float()
            if x.shape[1] != self.channels or x.shape[0] not in (1, self.batch):
                raise FeatureVisError(
                    f"init must be ({self.channels}, H, W) or (1 or {self.batch}, {self.channels}, H, W), "
                    f"got {tuple(init.shape)}"
                )
            if tuple(x.shape[-2:]) != (self.height, self.width):
                x = F.interpolate(x, size=(self.height, self.width), mode="bilinear", align_corners=False)
            return x.clamp(0, 1)
        picture = load_image(init).convert("L" if self.channels == 1 else "RGB").resize((self.width, self.height))
        return pixels(picture, self.channels)[None]

    def _attempt(
        self, side: Union[int, Tuple[int, int]], until: Optional[Dict[str, int]]
    ) -> Union[str, Tuple[Dict[str, List[torch.Tensor]], Optional[torch.Tensor]]]:
        """:meth:`_forward` of a zero ``side`` x ``side`` (or ``(height, width)``) image, or torch's complaint (a str)
        if the model cannot run on it."""
        height, width = (side, side) if isinstance(side, int) else side
        x = torch.zeros(1, self.channels, height, width, device=self.net.device, dtype=self.dtype)
        try:
            with private(self.net) as model, torch.no_grad():
                return self._forward(model, x, until)
        except RuntimeError as exc:
            return str(exc).split("\n")[0]

    def _probe(self) -> Tuple[Union[int, Tuple[int, int]], Dict[str, int], Shapes]:
        """What the model sees (side, or a native run's ``(height, width)``: of one tile when tiled), how often each
        hooked layer is called, and the activation shapes.

        The model sees the padded image upsampled to its input size; a model that only takes its own input
        size (a fixed ``Linear`` after ``flatten``) gets exactly that. Images below the smallest size the
        model accepts are refused, with that size in the message.
        """
        if self.native:
            return self._probe_native()
        wanted = self.net.preprocess.size
        pad = self.robustness.pad if self.robustness is not None else 0
        sides: List[Union[int, Tuple[int, int]]] = [max(self.size + 2 * pad, wanted), wanted]
        for side in dict.fromkeys(sides):
            attempt = self._attempt(side, None)
            if isinstance(attempt, str):
                problem = attempt
                continue
            shapes = self._shapes(*attempt)
            outputs, _ = attempt
            until = self._stops(outputs)
            break
        else:
            raise FeatureVisError(f"{self.net.name} cannot run on {wanted}x{wanted} images: {problem}")
        if isinstance(self._attempt(self.size, until), str):
            raise FeatureVisError(
                f"size {self.size} is below the smallest image {self.net.name} can run up to the objective's layer: "
                f"use size >= {self._smallest(until)}"
            )
        return side, until, shapes

    def _probe_native(self) -> Tuple[Tuple[int, int], Dict[str, int], Shapes]:
        """:meth:`_probe` for a picture the model sees at its own size (a tile of it when tiled)."""
        side = (min(self.height, self.tile or self.height), min(self.width, self.tile or self.width))
        attempt = self._attempt(side, None)
        if isinstance(attempt, str):
            raise FeatureVisError(f"{self.net.name} cannot run on {side[0]}x{side[1]} pictures: {attempt}")
        return side, self._stops(attempt[0]), self._shapes(*attempt)

    def _shapes(self, outputs: Dict[str, List[torch.Tensor]], logits: Optional[torch.Tensor]) -> Shapes:
        """The objective's activation shapes in a probing pass; raises for layers never called or missing logits."""
        missing = [name for name in self.hooked if not outputs[name]]
        if missing:
            names = ", ".join(missing)
            raise FeatureVisError(f"layer(s) {names} are never called in a forward pass of {self.net.name}")
        shapes = {name: tuple(outputs[name][-1].shape[1:]) for name in self.hooked}
        if OUTPUT in self.objective.layers:
            if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
                raise FeatureVisError("class_logit needs a model that returns (N, classes) logits")
            shapes[OUTPUT] = tuple(logits.shape[1:])
        return shapes

    def _stops(self, outputs: Dict[str, List[torch.Tensor]]) -> Dict[str, int]:
        """Where a pass may stop: after each hooked layer's last call, unless the objective reads the logits."""
        return {name: len(outputs[name]) for name in self.hooked} if OUTPUT not in self.objective.layers else {}

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
        height, width = (self.out, self.out) if isinstance(self.out, int) else self.out
        x = torch.rand(1, self.channels, height, width, generator=torch.Generator().manual_seed(0))
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

    def _shown(self, images: torch.Tensor) -> torch.Tensor:
        """What the model sees of ``images`` this step, in [0, 1]: transformed, or upsampled to the model's input
        size (never, when native)."""
        x = images if self.robustness is None else self.robustness(images, self.out, self.rng)  # type: ignore[arg-type]
        return x if self.native else upsampled(x, self.out)  # type: ignore[arg-type]

    def _normalised(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in [0, 1] as the model's input: ``(x - mean) / std`` in one op, in its dtype and layout."""
        x = torch.addcmul(-self.mean / self.std, x, 1 / self.std).to(self.dtype)
        return x.contiguous(memory_format=self.layout)

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        """The normalised batch the model sees this step (transformed, or just upsampled)."""
        return self._normalised(self._shown(images))

    def _acts(self, model: nn.Module, fast: Optional[Truncated], x: torch.Tensor) -> Acts:
        """The objective's activations of the normalised input ``x``, by the fast copy if there is one."""
        return fast(x) if fast is not None else self._hooked(model, x)

    def _tiled(self, model: nn.Module, fast: Optional[Truncated], shown: torch.Tensor) -> torch.Tensor:
        """A stand-in whose gradient is the objective's and whose value is the objective's value: the objective (a
        mean over positions) evaluated tile by tile, each weighted by its share of the picture, with one tile's
        graph in memory at a time."""
        picture = shown.detach()
        grad = torch.zeros_like(picture)
        value = picture.new_zeros(())
        height, width = picture.shape[-2:]
        for rows in spans(height, self.tile):
            for cols in spans(width, self.tile):
                part = picture[..., rows, cols].requires_grad_()
                share = part.shape[-2] * part.shape[-1] / (height * width)
                term = self.objective(self._acts(model, fast, self._normalised(part))) * share
                (grad[..., rows, cols],) = torch.autograd.grad(term, part)
                value = value + term.detach()
        surrogate = (shown * grad).sum()
        return surrogate - surrogate.detach() + value

    def _step(self) -> float:
        """One optimiser step; the objective's value before it. Raises on a non-finite value or gradient. Takes no
        step when ``until`` says the goal is reached."""
        tensor = self.image_param.tensor
        fast = self._fast()
        with private(self.net) as model:
            images = self.image_param()
            shown = self._shown(images)
            if self.tile and max(shown.shape[-2:]) > self.tile:
                value = self._tiled(model, fast, shown)
            else:
                acts = self._acts(model, fast, self._normalised(shown))
                self.reached = self.until_reached is not None and bool(self.until_reached(acts))
                value = self.objective(acts)
            number = float(value.detach())
            if self.reached:
                return number
            loss = -value
            for name, weight, penalty in self._penalties(images, tensor):
                loss = loss + weight * penalty
                self.penalties[name] = float(penalty.detach())
            (grad,) = torch.autograd.grad(loss, tensor)
            if not math.isfinite(number) or not math.isfinite(
                float(grad.sum())
            ):  # a NaN or inf anywhere spreads to the sum
                what = "gradient" if math.isfinite(number) else "objective"
                raise FeatureVisError(
                    f"the {what} became NaN or infinite at step {self.step + 1}; the run stopped with the last good "
                    f"image. Try a smaller lr (now {self.lr:g}), "
                    "the sigmoid squash, or an objective on an earlier layer"
                )
            self._apply(tensor, grad, loss.detach())
        self.curve.append(number)
        return number

    def _penalties(self, images: torch.Tensor, raw: torch.Tensor) -> Iterator[Tuple[str, float, torch.Tensor]]:
        """``(name, weight, value)`` of each penalty in use: on the picture (``tv``, ``l2``) or on the raw values
        (cs231n's ``l2_sum`` and ``tv_sum``)."""
        tv, l2_weight = self.weights
        if tv:
            yield "tv", tv, total_variation(images)
        if l2_weight:
            yield "l2", l2_weight, l2(images)
        if self.l2_sum:
            yield "l2_sum", self.l2_sum, raw.pow(2).sum()
        if self.tv_sum:
            down = (raw[..., 1:, :] - raw[..., :-1, :]).pow(2).sum()
            yield "tv_sum", self.tv_sum, down + (raw[..., :, 1:] - raw[..., :, :-1]).pow(2).sum()

    def _apply(self, tensor: torch.Tensor, grad: torch.Tensor, loss: torch.Tensor) -> None:
        """Step ``tensor`` down the loss's ``grad`` by the rule, then hold it to the constraint and apply the pixel
        regularisers (cs231n's order: step, clamp, blur)."""
        if self.step in self.restarts:
            self.optimizer = self._optimizer(self.restarts[self.step])
        if self.optimizer is None:
            descend(tensor, grad, self.rule, self.lr)
        else:
            if grad.stride() != tensor.stride():  # the fused CPU Adam walks both in memory order: layouts must agree
                grad = torch.empty_like(tensor).copy_(grad)
            tensor.grad = grad
            if self.rule == "lbfgs":  # L-BFGS asks for the loss: its one evaluation is this step's
                self.optimizer.step(lambda: float(loss))
            else:
                self.optimizer.step()
            tensor.grad = None
        self.step += 1
        project(tensor.data, self.constraint, self.image_param.gain, self.image_param.offset)
        if self.pixel_ops.active:
            self.pixel_ops.apply(tensor.data, -grad, self.step)

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
            if self.reached:
                yield Update(1.0, Frame(self.step, self.image(), value))
                return
            shown = self.step == end or (every > 0 and self.step % every == 0)
            yield Update((self.step - start) / steps, Frame(self.step, self.image(), value) if shown else None)


def _shape(size: Union[int, Sequence[int]], native: bool) -> Tuple[int, int]:
    """``(height, width)`` of the optimised pictures from ``size``: a side, or a native run's pair."""
    if isinstance(size, (tuple, list)) and len(size) == 2 and native:
        height, width = (check_int("size", side, 1, MAX_SIZE, error=FeatureVisError) for side in size)
        return height, width
    if isinstance(size, (tuple, list)):
        raise FeatureVisError(f"size must be one side, or (height, width) with native=True, got {size!r}")
    side = check_int("size", size, 1, MAX_SIZE, error=FeatureVisError)
    return side, side


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
