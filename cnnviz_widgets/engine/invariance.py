"""How much a layer's features change when the image is shifted, scaled or rotated (Zeiler & Fergus 2014, Fig. 5).

The image is transformed by each amount of a range, and for each chosen layer the distance between the original
image's feature vector ``f(x)`` (the layer's whole output, flattened) and the transformed image's ``f(T x)`` is
measured relative to the original's length:

    distance = ||f(x) - f(T x)||_2 / ||f(x)||_2

so 0 means unchanged and 1 means a change as large as the features themselves, comparable across layers of any
size (where ``f(x)`` is all zeros the distance is 0 if ``f(T x)`` is too and infinite otherwise). Beside the
curves, the model's softmax probability of one class (by default the original image's top class) shows whether
the prediction survives the change. As in the paper, an early layer's distance jumps at the smallest shift (its
fine maps no longer line up) and stays there, a top layer's grows gradually with the amount, and the prediction
mostly survives shifts and zooms, rotations less often.

The transforms act on the normalised tensor, about the image's centre, with bilinear sampling; what comes in from
outside the image is 0, the dataset's mean colour after normalisation:

- ``"translate"``: a horizontal shift by ``amount`` pixels, positive to the right (the paper shifts vertically;
  the two behave alike on most photos);
- ``"scale"``: a zoom by the factor ``amount`` (> 1 enlarges and crops, < 1 shrinks inside a mean-colour border);
- ``"rotate"``: a rotation by ``amount`` degrees, counter-clockwise as the image is shown.

The identity (shift 0, scale 1, a rotation by a multiple of 360 degrees) is the original image itself: those amounts
are not run again but take the original's features, so their distance is exactly 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .batching import CPU_CHUNK, in_fast_layout
from .checks import check_choice, check_int
from .errors import ImageError, LayerError, ModelError, SettingError
from .hooks import capture
from .inputs import check_finite, prepare_input
from .names import OUTPUT, resolve_layer
from .progress import Update, last
from .replica import ModelLike, logits_expected, steps_on_replica
from .schema import Option, check_settings

TRANSFORMS = ("translate", "scale", "rotate")
"""The transforms, in the order a view lists them (see the module docstring for what each amount means)."""
IDENTITY = {"translate": 0.0, "scale": 1.0, "rotate": 0.0}
"""The amount that leaves the image as it is (for ``"rotate"``, any multiple of 360 does too)."""
DEFAULT_AMOUNTS: Dict[str, Tuple[float, ...]] = {
    "translate": tuple(float(t) for t in range(-60, 61, 5)),
    "scale": tuple(k / 20 for k in range(10, 37)),  # 0.5, 0.55, ..., 1.8; 1.0 exactly
    "rotate": tuple(float(d) for d in range(0, 361, 10)),
}
"""Each transform's default range: -60..60 px in steps of 5, 0.5..1.8 in steps of 0.05, 0..360 degrees in steps
of 10 (Zeiler & Fergus's ranges, shifts both ways); each holds the identity."""

INVARIANCE_OPTIONS = (
    Option("transform", "transform", "choice", "rotate", choices=TRANSFORMS, group="transform",
           help="What is done to the image: a horizontal shift, a zoom or a rotation"),
    Option("batch", "batch", "int", CPU_CHUNK, 1, 256, group="run",
           help="Transformed images per forward pass"),
)  # fmt: skip
"""The settings a form draws; the amounts are a list of numbers and the target a class of the model."""


@dataclass(frozen=True)
class Invariance:
    """Invariance curves of ``layers`` under ``transform``.

    ``amounts`` ``(K,)`` float64, as given; ``distances`` ``(len(layers), K)`` float32, each layer's normalised
    distance at each amount (see the module docstring); ``probability`` ``(K,)`` float32, the softmax probability
    of class ``target`` for each transformed image. In a partial result the amounts not yet run are NaN in both.
    ``done`` counts the amounts that are not.
    """

    transform: str
    amounts: torch.Tensor
    layers: Tuple[str, ...]
    distances: torch.Tensor
    target: int
    probability: torch.Tensor
    done: int

    @property
    def fraction(self) -> float:
        """The share of the amounts done."""
        return self.done / len(self.amounts)


def is_identity(transform: str, amount: float) -> bool:
    """Whether ``amount`` of ``transform`` leaves every image as it is."""
    if transform == "rotate":
        return amount % 360 == 0
    return amount == IDENTITY[transform]


def _theta(transform: str, amount: float, height: int, width: int) -> torch.Tensor:
    """The ``(2, 3)`` matrix that maps an output pixel to the input position it shows, in ``affine_grid``'s
    coordinates (-1..1 across the image's edges, so a pixel is ``2 / width`` wide and ``2 / height`` high)."""
    if transform == "translate":
        rows = [[1.0, 0.0, -2.0 * amount / width], [0.0, 1.0, 0.0]]
    elif transform == "scale":
        rows = [[1.0 / amount, 0.0, 0.0], [0.0, 1.0 / amount, 0.0]]
    else:  # in pixels, y down: the pixel at p shows the input at R(-angle) p; then rescaled to -1..1 per axis
        c, s = math.cos(math.radians(amount)), math.sin(math.radians(amount))
        rows = [[c, -s * height / width, 0.0], [s * width / height, c, 0.0]]
    return torch.tensor(rows, dtype=torch.float64)


def _warp(x: torch.Tensor, transform: str, amount: float) -> torch.Tensor:
    """:func:`transformed` without its checks."""
    if is_identity(transform, amount):
        return x.clone()
    n, _, h, w = x.shape
    theta = _theta(transform, amount, h, w).to(x.device, x.dtype).expand(n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def transformed(x: torch.Tensor, transform: str, amount: float) -> torch.Tensor:
    """The image batch ``x`` shifted, scaled or rotated by ``amount`` (see the module docstring).

    Parameters
    ----------
    x : torch.Tensor
        Normalised images ``(N, C, H, W)``.
    transform : {"translate", "scale", "rotate"}
        What is done.
    amount : float
        Pixels to the right, zoom factor (> 0), or degrees counter-clockwise.

    Returns
    -------
    torch.Tensor
        A new tensor shaped like ``x``; 0 where the input has no pixel. The identity is an exact copy.
    """
    transform = check_choice("transform", transform, TRANSFORMS)
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ImageError(f"expected a float image batch (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    return _warp(x, transform, _amounts(transform, [amount])[0])


def _amounts(transform: str, amounts: Any) -> List[float]:
    """``amounts`` as a list of floats if it is a non-empty 1-D sequence of finite numbers (zoom factors > 0)."""
    try:
        values = torch.as_tensor(amounts)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise SettingError(f"amounts must be a 1-D sequence of numbers, got {amounts!r}") from exc
    if values.dim() != 1 or values.numel() == 0 or values.dtype == torch.bool or values.is_complex():
        raise SettingError(f"amounts must be a non-empty 1-D sequence of numbers, got {amounts!r}")
    values = values.double() if isinstance(amounts, torch.Tensor) else torch.as_tensor(amounts, dtype=torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise SettingError(f"amounts must be finite numbers, got {amounts!r}")
    if transform == "scale" and not bool((values > 0).all()):
        raise SettingError(f"scale amounts are zoom factors and must be > 0, got {amounts!r}")
    return values.tolist()


def _features(output: torch.Tensor, name: str, images: int) -> torch.Tensor:
    """A layer's output as one float64 feature vector per image ``(N, D)``."""
    if output.dim() == 0 or output.shape[0] != images:
        raise LayerError(
            f"layer {name or 'output'!r} gives shape {tuple(output.shape)}, not one row per image; pick a layer "
            "whose output has the batch as its first dimension"
        )
    return output.detach().reshape(images, -1).double()


def _distance(ref: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """``||ref - feats|| / ||ref||`` per row of ``feats`` ``(N, D)``; 0 / 0 is 0 and d / 0 infinite."""
    length = ref.norm()
    gap = (feats - ref).norm(dim=1)
    if length > 0:
        return gap / length
    return torch.where(gap > 0, math.inf, 0.0)


def _logits(out: Any) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ModelError(logits_expected(out))
    check_finite(out, error=ModelError)
    return out


@steps_on_replica
def invariance_steps(
    model: nn.Module,
    x: torch.Tensor,
    layers: Union[str, Sequence[str]],
    transform: str = "rotate",
    amounts: Optional[Sequence[float]] = None,
    target: Optional[int] = None,
    batch: int = CPU_CHUNK,
) -> Iterator[Update[Invariance]]:
    """:func:`invariance_curves` as a long call: an :class:`~.progress.Update` after the original image's pass
    (the identity amounts filled in) and after each batch of transformed images, with the curves so far (NaN at
    the amounts not yet run); the last has ``fraction`` 1.0. Stop iterating to stop the work."""
    settings = check_settings(INVARIANCE_OPTIONS, {"transform": transform, "batch": batch})
    transform, batch = settings["transform"], settings["batch"]
    values = _amounts(transform, DEFAULT_AMOUNTS[transform] if amounts is None else amounts)
    listed = [layers] if isinstance(layers, str) else layers
    if not isinstance(listed, (list, tuple)) or not listed or not all(isinstance(name, str) for name in listed):
        raise LayerError(f"layers must be a layer name or a non-empty list of them ('' for the logits), got {layers!r}")
    names = tuple(dict.fromkeys(listed))
    hooked = [name for name in names if name != OUTPUT]
    for name in hooked:
        resolve_layer(model, name)
    x = prepare_input(model, x, ImageError)
    if x.shape[0] != 1:
        raise ImageError(f"invariance curves follow one image; got a batch of {x.shape[0]} (pass x[i:i + 1])")

    def run(images: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """The logits of ``images`` and each layer's features, from one forward pass without gradients."""
        with torch.no_grad(), capture(model, hooked) as record:
            logits = _logits(in_fast_layout(model, images, model))
            feats = [logits.double() if n == OUTPUT else _features(record[n], n, len(images)) for n in names]
        return logits, feats

    logits, reference = run(x)
    classes = logits.shape[1]
    target = int(logits[0].argmax()) if target is None else check_int("target", target, 0, classes - 1)
    probability = torch.full((len(values),), math.nan, dtype=torch.float64)
    distances = torch.full((len(names), len(values)), math.nan, dtype=torch.float64)
    todo = [k for k, amount in enumerate(values) if not is_identity(transform, amount)]
    same = [k for k in range(len(values)) if k not in set(todo)]
    probability[same] = float(logits.double().softmax(dim=1)[0, target])
    distances[:, same] = 0.0
    done = len(same)

    def partial() -> Invariance:
        return Invariance(transform, torch.tensor(values, dtype=torch.float64), names, distances.float(), target,
                          probability.float(), done)  # fmt: skip

    result = partial()
    yield Update(result.fraction, result)
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        images = torch.cat([_warp(x, transform, values[k]) for k in chunk])
        logits, feats = run(images)
        probability[chunk] = logits.double().softmax(dim=1)[:, target].cpu()
        for row, (ref, feat) in enumerate(zip(reference, feats)):
            distances[row, chunk] = _distance(ref, feat).cpu()
        done += len(chunk)
        result = partial()
        yield Update(result.fraction, result)


def invariance_curves(
    model: ModelLike,
    x: torch.Tensor,
    layers: Union[str, Sequence[str]],
    transform: str = "rotate",
    amounts: Optional[Sequence[float]] = None,
    target: Optional[int] = None,
    batch: int = CPU_CHUNK,
) -> Invariance:
    """How far each layer's features move, and the class probability, as the image is transformed by a range of
    amounts (Zeiler & Fergus 2014, Fig. 5; see the module docstring for the transforms and the distance).

    Parameters
    ----------
    model : nn.Module or Net
        Classifier returning logits; never modified (it runs on the engine's replica, without gradients).
    x : torch.Tensor
        One normalised image ``(1, C, H, W)``.
    layers : str or sequence of str
        Dotted layer names, each a module whose output is a tensor with the batch first (flattened per image);
        ``""`` (:data:`~.names.OUTPUT`) is the logits. Repeated names count once.
    transform : {"translate", "scale", "rotate"}
        Horizontal shift in pixels, zoom factor, or counter-clockwise rotation in degrees.
    amounts : sequence of float, optional
        The amounts, in the order the curves list them; default :data:`DEFAULT_AMOUNTS` of the transform.
    target : int, optional
        The class whose probability is reported; default: the original image's top class.
    batch : int
        Transformed images per forward pass.

    Returns
    -------
    Invariance
        The curves; for partial curves as batches finish, iterate :func:`invariance_steps`.
    """
    return last(invariance_steps(model, x, layers, transform, amounts, target, batch))
