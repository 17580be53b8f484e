"""The feature maps that style transfer matches: computed once per picture, on the engine's replica of the model.

Targets (the content photo's features, the style picture's Gram matrices) are fixed for a whole run, so they are
computed here once, without gradients; only the optimised picture's features are recomputed at every step (by the
optimisation loop's fast truncated copy of the model).
"""

from __future__ import annotations

from typing import Dict, Sequence, Union

import torch
from torch import nn

from ..errors import LayerError
from ..hooks import capture
from ..model import Net
from ..names import list_choices, resolve_layer
from ..replica import private


def check_layers(net: Net, layers: Sequence[str]) -> None:
    """Raise :class:`LayerError` for a layer the model does not have, or one without a spatial ``(C, H, W)`` output,
    naming the layers that would do."""
    for layer in layers:
        resolve_layer(net.model, layer)
    spatial = [record.name for record in net.layers() if len(record.shape) == 3]
    flat = [layer for layer in layers if layer not in spatial]
    if flat:
        raise LayerError(
            f"layer(s) {', '.join(flat)} have no spatial (channels, height, width) output, so they have no texture to "
            f"match; choose among {list_choices(spatial, flat[0])}"
        )


def features(net: Union[Net, nn.Module], picture: torch.Tensor, layers: Sequence[str]) -> Dict[str, torch.Tensor]:
    """The outputs ``(1, C, H, W)`` (float32, detached) of ``layers`` for ``picture`` ``(1, C, H, W)`` in [0, 1], seen
    at its own size; the forward pass stops after the deepest of them. A module called several times (a shared ReLU)
    gives its last call's output, as in the optimisation loop."""
    net = net if isinstance(net, Net) else Net(net)
    prep = net.preprocess
    mean = torch.tensor(prep.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(prep.std).reshape(1, -1, 1, 1)
    x = ((picture.float() - mean) / std).to(net.device, net.dtype)
    names = list(dict.fromkeys(layers))
    calls = {record.name: record.calls for record in net.layers()}
    until = {name: calls.get(name, 1) for name in names}
    with private(net) as model, torch.no_grad(), capture(model, names, until=until) as record:
        record.forward(model, x)
        return {name: record[name].float() for name in names}
