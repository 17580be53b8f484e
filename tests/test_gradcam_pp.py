"""Grad-CAM++ against a brute-force float64 evaluation of the paper's closed form (Chattopadhyay et al. 2018,
eq. 19 with the exponential score): for channel k at position (i, j), with A the layer's activation and
g = dY/dA the gradient of the class logit there,

    alpha_kij = g_kij^2 / (2 g_kij^2 + sum_ab A_kab g_kij^3)        (0 where the denominator is 0)
    w_k       = sum_ij alpha_kij relu(g_kij)
    cam_ij    = relu(sum_k w_k A_kij)

The activation and gradient are captured here with a plain forward hook and autograd, and the sums are
explicit loops, so nothing is shared with the engine's vectorised code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnviz_widgets import engine
from cnnviz_widgets.engine import resolve_layer

from .conftest import Untouched, eval_mode, rel_err


def activation_and_gradient(model, x, target, layer):
    """A and dlogit/dA at ``layer`` for one image, as float64 numpy arrays (C, h, w)."""
    seen = []
    handle = resolve_layer(model, layer).register_forward_hook(lambda m, i, out: seen.append(out))
    try:
        with eval_mode(model):
            logits = model(x.clone().requires_grad_())
    finally:
        handle.remove()
    (act,) = seen
    (grad,) = torch.autograd.grad(logits[0, target], act)
    return act[0].detach().double().numpy(), grad[0].double().numpy()


def brute_force_cam_pp(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    channels, h, w = a.shape
    a_, g_ = a.tolist(), g.tolist()  # plain Python floats (float64): fast scalar loops
    weights = [0.0] * channels
    for k in range(channels):
        total = sum(sum(row) for row in a_[k])
        for i in range(h):
            for j in range(w):
                gkij = g_[k][i][j]
                denominator = 2 * gkij**2 + total * gkij**3
                alpha = gkij**2 / denominator if denominator != 0 else 0.0
                weights[k] += alpha * max(gkij, 0.0)
    cam = np.zeros((h, w))
    for k in range(channels):
        cam += weights[k] * a[k]
    return np.maximum(cam, 0.0)


@pytest.mark.parametrize("layer", ["layer4", "layer3", "layer2.1.conv1"])
def test_grad_cam_pp_equals_the_papers_closed_form(resnet18, cat, layer):
    model = resnet18.model
    x = resnet18.tensor(cat)
    target = resnet18.predict(cat)[0].index
    a, g = activation_and_gradient(model, x, target, layer)
    ref = torch.from_numpy(brute_force_cam_pp(a, g))
    assert ref.max() > 0, "degenerate reference map"
    with Untouched(model):
        ours = engine.grad_cam_pp(model, x, target, layer)
    assert ours.shape == (1, 1, *a.shape[1:])
    assert rel_err(ours[0, 0], ref) < 1e-5
    # it is not Grad-CAM under another name
    assert rel_err(engine.grad_cam(model, x, target, layer)[0, 0], ref) > 1e-2
    # the display map is the same map upsampled bilinearly to the input size
    shown = engine.saliency(model, x, target, method="gradcam_pp", layer=layer)
    up = torch.nn.functional.interpolate(ref[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)
    assert rel_err(shown[0], up[0, 0]) < 1e-5
