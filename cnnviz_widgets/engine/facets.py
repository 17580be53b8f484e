"""Multifaceted class visualisation (Nguyen, Yosinski and Clune 2016): one class, several pictures, one per facet.

A class has facets (a grocery store's bell peppers, a garden's, a single pepper on a plate), and a visualisation
started from noise finds one of them. Nguyen et al. cluster the class's training images in the penultimate layer
(k-means, :mod:`.kmeans`) and start one visualisation from the mean image of each cluster, so each picture grows
from its facet. Here the images of the class are those a dataset scan (:mod:`.scan`) saw the model predict as the
class; their features are the scan's embedding layer (by default the last spatial layer, what the classifier sees)
and their mean images are averaged from the scan's small copies of the model's input (32 x 32: a blurry mean is
all a start needs). Any features and images of your own work too.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from .checks import check_int
from .classvis import ClassVisualization
from .featurevis import FeatureVisError
from .kmeans import kmeans
from .model import Net
from .scan import Scan
from .scan.recorder import PIXEL_SIDE, PIXELS

Examples = Union[Scan, Tuple[np.ndarray, torch.Tensor]]
"""A scan, or the features ``(N, D)`` and pictures ``(N, C, H, W)`` in [0, 1] of the class's images."""


class Starts(NamedTuple):
    """The mean picture of each cluster, ``images`` ``(k, C, H, W)`` in [0, 1], and the members of each cluster
    (indices into the scan's items, or into the rows given)."""

    images: torch.Tensor
    members: List[np.ndarray]


def class_examples(scan: Scan, net: Net, target: int, layer: Optional[str] = None) -> Tuple[np.ndarray, torch.Tensor,
                                                                                            np.ndarray]:  # fmt: skip
    """The scanned images the model predicts as ``target``: their ``layer`` features (default: the scan's last
    embedding layer), their small pictures ``(n, C, 32, 32)`` in [0, 1], and their indices in the scan."""
    layer = layer if layer is not None else scan.embed[-1]
    if layer not in scan.embed:
        raise FeatureVisError(f"the scan has no features of layer {layer!r}; it has: {', '.join(scan.embed)}")
    rows = np.flatnonzero(scan.scanned & (scan.predicted == target))
    prep = net.preprocess
    small = torch.from_numpy(np.asarray(scan.features[PIXELS][rows])).reshape(-1, prep.channels, PIXEL_SIDE, PIXEL_SIDE)
    mean = torch.tensor(prep.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(prep.std).reshape(1, -1, 1, 1)
    return np.asarray(scan.features[layer][rows]), (small * std + mean).clamp(0, 1), rows


def facet_starts(net: Union[Net, nn.Module], examples: Examples, target: int, k: int = 4, *,
                 layer: Optional[str] = None, seed: int = 0) -> Starts:  # fmt: skip
    """Cluster the class's images into ``k`` groups by their features and average each group's pictures.

    Parameters
    ----------
    net : Net or nn.Module
        The network the scan was made with.
    examples : Scan or (features, images)
        A scan of a dataset (the images predicted as ``target`` are used), or the features ``(N, D)`` and the
        pictures ``(N, C, H, W)`` in [0, 1] of the class's images.
    target : int
        The class.
    k : int
        Number of facets, 1..16, at most the number of images.
    layer : str, optional
        The scan's embedding layer to cluster in (default: its last, the penultimate layer).
    seed : int
        Seeds k-means.
    """
    net = net if isinstance(net, Net) else Net(net)
    target = check_int("target", target, 0, net.num_classes - 1, error=FeatureVisError)
    k = check_int("k", k, 1, 16, error=FeatureVisError)
    if isinstance(examples, Scan):
        features, pictures, index = class_examples(examples, net, target, layer)
        where = f"the scan ({int(examples.scanned.sum())} images scanned)"
    elif isinstance(examples, tuple) and len(examples) == 2:
        features, pictures = np.asarray(examples[0], dtype=np.float32), torch.as_tensor(examples[1]).float()
        if features.ndim != 2 or pictures.dim() != 4 or len(features) != len(pictures):
            raise FeatureVisError(
                f"give features (N, D) and pictures (N, C, H, W) of the same N; got shapes {features.shape} and "
                f"{tuple(pictures.shape)}"
            )
        index, where = np.arange(len(features)), "the examples given"
    else:
        raise FeatureVisError(f"examples must be a Scan or a (features, pictures) pair, got {type(examples).__name__}")
    if len(features) < k:
        raise FeatureVisError(
            f"{len(features)} image(s) of class {target} ({net.label(target)}) in {where}: too few for {k} facets; "
            f"use k <= {len(features)}" + (" or scan more images" if isinstance(examples, Scan) else "")
        )
    groups = kmeans(features, k, seed=seed).labels
    members = [np.flatnonzero(groups == j) for j in range(k)]
    return Starts(torch.stack([pictures[m].mean(0) for m in members]), [index[m] for m in members])


def facets(net: Union[Net, nn.Module], examples: Examples, target: int, k: int = 4, *, preset: str = "cs231n",
           steps: Optional[int] = None, seed: int = 0, layer: Optional[str] = None) -> ClassVisualization:  # fmt: skip
    """A :class:`ClassVisualization` of ``k`` pictures of class ``target``, each started from the mean image of one
    cluster of the class's images (:func:`facet_starts`, same arguments); run it with ``.steps()``."""
    starts = facet_starts(net, examples, target, k, layer=layer, seed=seed)
    return ClassVisualization(net, target, preset, steps=steps, seed=seed, init=starts.images)
