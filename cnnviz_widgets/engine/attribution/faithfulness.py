"""Deletion and insertion curves (Petsiuk et al. 2018): does the map rank the pixels the model relies on?

Deleting the most salient pixels first should make the class probability drop fast (low deletion AUC);
inserting them first into a blurred image should make it rise fast (high insertion AUC). The perturbed
images are scored in batches without gradients.
"""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..checks import check_int
from ..errors import AttributionError
from ..inputs import class_indices, class_scores, prepare_input
from ..progress import Update, last
from ..replica import steps_on_replica
from .integrated import make_baseline
from .targets import ForwardArgs, Target, scoring


class Curves(NamedTuple):
    """Score after removing (deletion) or revealing (insertion) each fraction of pixels, and the AUCs."""

    fractions: torch.Tensor
    deletion: torch.Tensor
    insertion: torch.Tensor
    deletion_auc: float
    insertion_auc: float


def _auc(curve: torch.Tensor, fractions: torch.Tensor) -> float:
    return float(torch.trapezoid(curve, fractions))


def _pixel_map(attribution: Union[torch.Tensor, np.ndarray], image: torch.Size) -> torch.Tensor:
    """The attribution as one value per pixel ``(H, W)``: a map as is, an ``(1, C, H, W)`` one summed over C."""
    if not isinstance(attribution, (torch.Tensor, np.ndarray)):
        raise AttributionError(f"the attribution must be a tensor or numpy array, got {type(attribution).__name__}")
    a = torch.as_tensor(attribution).detach()
    if a.dim() == 4 and tuple(a.shape[:2]) == (1, image[1]):
        a = a[0].sum(dim=0)
    elif a.dim() == 3 and a.shape[0] == 1:
        a = a[0]
    if a.shape != image[-2:]:
        raise AttributionError(
            f"the attribution must be a map of the image's size {tuple(image[-2:])}, or per channel "
            f"{(1, *image[1:])}; got {tuple(attribution.shape)}"
        )
    return a


@steps_on_replica
def deletion_insertion_steps(
    model: nn.Module,
    x: torch.Tensor,
    attribution: torch.Tensor,
    target: Target,
    steps: int = 50,
    *,
    deletion_baseline: Union[str, float, torch.Tensor] = "zeros",
    insertion_baseline: Union[str, float, torch.Tensor] = "blur",
    batch_size: int = 16,
    forward_args: Tuple[Any, ...] = (),
) -> Iterator[Update[Curves]]:
    """Deletion and insertion curves for one image and its attribution map, with their areas under the curve.

    A long call: an :class:`~..progress.Update` after each batch of perturbed images, the last with the
    :class:`Curves`; stop iterating to stop within one batch.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits.
    x : torch.Tensor
        One normalised image ``(1, C, H, W)``.
    attribution : torch.Tensor
        Pixel importance ``(H, W)`` or ``(1, H, W)``, or a per-channel ``(1, C, H, W)`` (summed over channels).
    target : int, callable or str
        A class (scored by its softmax probability), or a callable/unit target (scored by its raw value).
    steps : int
        Number of equal pixel fractions from 0 to 1; the curves have ``steps + 1`` points.
    deletion_baseline, insertion_baseline : {"zeros", "blur"}, float or tensor
        What deleted pixels become, and the image insertion starts from.
    batch_size : int
        Perturbed images per forward pass.
    forward_args : tuple
        Extra arguments of the model's forward after the image, given with every perturbed copy (see
        :class:`~.targets.ForwardArgs`).
    """
    steps = check_int("steps", steps, 1, error=AttributionError)
    if isinstance(x, torch.Tensor) and (x.dim() != 4 or x.shape[0] != 1):
        raise AttributionError(f"deletion_insertion scores one image, shape (1, C, H, W); got {tuple(x.shape)}")
    x = prepare_input(model, x)
    h, w = x.shape[-2:]
    importance = _pixel_map(attribution, x.shape).to(device=x.device, dtype=x.dtype)
    if not torch.isfinite(importance).all():
        raise AttributionError("the attribution contains NaN or infinite values")
    rank = torch.empty(h * w, dtype=torch.long, device=x.device)
    rank[torch.argsort(importance.flatten(), descending=True, stable=True)] = torch.arange(h * w, device=x.device)
    rank = rank.view(1, 1, h, w)
    counts = torch.round(torch.arange(steps + 1, dtype=torch.float64) * (h * w) / steps).long().to(x.device)
    removed, start = make_baseline(x, deletion_baseline), make_baseline(x, insertion_baseline)
    if not (callable(target) or isinstance(target, str)):
        classes = class_indices(target)
        if classes.numel() != 1:
            raise AttributionError(f"give one class for one image; got {classes.numel()}")
        target = lambda logits: class_scores(logits.softmax(dim=1), classes)  # noqa: E731 - scored as a probability
    curves = torch.empty(2, steps + 1, dtype=torch.float64)
    total = 2 * (steps + 1)
    args = ForwardArgs(forward_args, 1).repeat(total)
    for begin in range(0, total, batch_size):
        rows = torch.arange(begin, min(total, begin + batch_size), device=x.device)
        which, step = rows // (steps + 1), rows % (steps + 1)
        shown = rank < counts[step].view(-1, 1, 1, 1)  # the most important pixels so far
        deleted = torch.where(shown, removed, x)
        inserted = torch.where(shown, x, start)
        batch = torch.where((which == 0).view(-1, 1, 1, 1), deleted, inserted)
        with scoring(model, target, forward_args=args) as (score, _), torch.no_grad():
            scores = score(batch, slice(begin, begin + len(rows)))
        curves.view(-1)[begin : begin + len(rows)] = scores.double().cpu()
        if begin + len(rows) < total:
            yield Update((begin + len(rows)) / total)
    fractions = counts.double().cpu() / (h * w)
    yield Update(1.0, Curves(fractions, curves[0], curves[1], _auc(curves[0], fractions), _auc(curves[1], fractions)))


def deletion_insertion(
    model: nn.Module,
    x: torch.Tensor,
    attribution: torch.Tensor,
    target: Target,
    steps: int = 50,
    *,
    deletion_baseline: Union[str, float, torch.Tensor] = "zeros",
    insertion_baseline: Union[str, float, torch.Tensor] = "blur",
    batch_size: int = 16,
    forward_args: Tuple[Any, ...] = (),
) -> Curves:
    """:func:`deletion_insertion_steps` run to the end; parameters as there."""
    return last(
        deletion_insertion_steps(
            model,
            x,
            attribution,
            target,
            steps,
            deletion_baseline=deletion_baseline,
            insertion_baseline=insertion_baseline,
            batch_size=batch_size,
            forward_args=forward_args,
        )
    )
