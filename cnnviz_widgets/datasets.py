"""An offline labelled image set for dataset scans, made on the fly: photo crops and pictures with known answers.

The dataset lab and the scan tests need a few thousand labelled images without a network. This set makes them
from photos that ship with the installed packages, and from synthetic pictures whose top patches are known:

- photo classes: random crops (40-90 % of the short side), horizontal flips and changes of brightness, contrast
  and saturation (only lowered) of one photo each: the bundled cat and coffee cup, and scikit-image's bundled
  astronaut, rocket, motorcycle, retina and Hubble deep field when scikit-image is installed (its files are read
  from its own folder, never downloaded; without it the set has the bundled photos and the synthetic classes);
- ``"red blob"``, ``"green blob"``, ``"blue blob"``: a disc of that pure colour (:data:`PURE`), 15-30 % of the side
  in radius, at a random position on grey noise. Every red-blob image has more pure red pixels than any other image
  of the set, so a unit that responds to red blobs must rank the red-blob images first, at the disc (the coffee,
  retina and motorcycle photos do have red areas, less saturated than a blob's);
- ``"grating 0"`` ... ``"grating 135"``: a round patch of stripes whose bars run at that angle counter-clockwise
  from horizontal (0: horizontal bars, 90: vertical), with random period, phase and contrast, on grey noise.

Item ``i`` has label ``i % len(classes)`` (the classes are balanced) and is drawn from a random generator seeded
with ``(seed, i)`` alone, so any item, in any process and any order, is the same picture. The classes are in
sorted order, as torchvision's ``ImageFolder`` sorts class folders, so the folder :func:`write_stand_in` makes
reads back with the same labels.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageEnhance
from torch.utils.data import Dataset

from .engine.checks import check_int
from .engine.images import MIN_SIDE, sample_image

SKIMAGE_PHOTOS = {
    "astronaut": "astronaut.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
    "retina": "retina.jpg",
    "hubble": "hubble_deep_field.jpg",
}
"""Class name -> file in scikit-image's data folder (its Chelsea and coffee are the bundled cat and coffee)."""
BLOBS = {"red blob": 0, "green blob": 1, "blue blob": 2}
"""Blob classes and the colour channel of their disc."""
GRATINGS = {"grating 0": 0, "grating 45": 45, "grating 90": 90, "grating 135": 135}
"""Grating classes and the angle of their bars in degrees, counter-clockwise from horizontal."""
CHANGES = {"Brightness": (0.7, 1.3), "Contrast": (0.7, 1.3), "Color": (0.5, 1.0)}
"""Ranges of the random factors of a photo's colour changes; saturation is only lowered, so that pure colours stay
nearly the blobs' own."""
PURE = (220, 20)
"""A pure colour: its channel above 220, the other two below 20 (of 255). The blobs are pure; in the photos a pure
red patch is rare and small (a bit of the red motorcycle)."""
LONGEST = 512
"""Photos are shrunk to this long side once, so a crop costs little."""
Box = Tuple[int, int, int, int]


@lru_cache(maxsize=1)
def photos() -> Dict[str, Image.Image]:
    """The photos of the photo classes, by class name: the bundled two, and scikit-image's when installed."""
    found = {name: sample_image(name) for name in ("cat", "coffee")}
    try:
        import skimage.data
    except ImportError:
        pass
    else:
        folder = Path(skimage.data.__file__).parent
        for name, file in SKIMAGE_PHOTOS.items():
            if (folder / file).is_file():
                with Image.open(folder / file) as img:
                    found[name] = img.convert("RGB")
    for img in found.values():
        img.thumbnail((LONGEST, LONGEST), Image.BILINEAR)  # type: ignore[attr-defined]
    return found


def _noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """A grey background with grey noise: ``(size, size, 3)`` float, equal channels."""
    grey = rng.uniform(80, 170) + rng.normal(0, 10, (size, size, 1))
    return np.repeat(grey, 3, axis=2)


def _disc(size: int, cy: float, cx: float, r: float) -> Tuple[np.ndarray, Box]:
    """A boolean mask of the disc and its bounding box (top, left, bottom, right), bottom/right exclusive."""
    y, x = np.mgrid[:size, :size] + 0.5
    box = (int(cy - r), int(cx - r), min(size, int(np.ceil(cy + r))), min(size, int(np.ceil(cx + r))))
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r, box


def _placed(rng: np.random.Generator, size: int, low: float, high: float) -> Tuple[float, float, float]:
    """A radius between ``low`` and ``high`` of ``size`` and a centre that keeps the disc inside the picture."""
    r = rng.uniform(low, high) * size
    return rng.uniform(r, size - r), rng.uniform(r, size - r), r


def _blob(rng: np.random.Generator, size: int, channel: int) -> Tuple[np.ndarray, Box]:
    pixels = _noise(rng, size)
    inside, box = _disc(size, *_placed(rng, size, 0.15, 0.3))
    colour = rng.uniform(0, PURE[1] - 10, 3)
    colour[channel] = rng.uniform(PURE[0] + 10, 255)
    pixels[inside] = colour + rng.normal(0, 2, (int(inside.sum()), 3))
    return pixels, box


def _grating(rng: np.random.Generator, size: int, angle: float) -> Tuple[np.ndarray, Box]:
    pixels = _noise(rng, size)
    inside, box = _disc(size, *_placed(rng, size, 0.25, 0.45))
    y, x = np.mgrid[:size, :size]
    a = np.deg2rad(angle)
    # Bars along (cos a, -sin a) on screen (y points down); the intensity varies across them.
    phase = 2 * np.pi * (x * np.sin(a) + y * np.cos(a)) / rng.uniform(6, 16) + rng.uniform(0, 2 * np.pi)
    wave = rng.uniform(100, 156) + rng.uniform(50, 100) * np.sin(phase)
    pixels[inside] = wave[inside][:, None]
    return pixels, box


def _photo(rng: np.random.Generator, photo: Image.Image, size: int) -> Image.Image:
    w, h = photo.size
    side = rng.uniform(0.4, 0.9) * min(w, h)
    left, top = rng.uniform(0, w - side), rng.uniform(0, h - side)
    img = photo.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side))  # type: ignore[attr-defined]
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)  # type: ignore[attr-defined]
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):  # Color: saturation
        img = enhance(img).enhance(rng.uniform(*CHANGES[enhance.__name__]))
    return img


class StandIn(Dataset):
    """The stand-in set: item ``i`` is ``(PIL RGB image, label)``; see the module's description.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Side of the square images in pixels (at least 16).
    seed : int
        Seeds every item's random generator, with the item's index.
    """

    def __init__(self, n: int = 2000, size: int = 96, seed: int = 0):
        self.n = check_int("n", n, 1)
        self.size = check_int("size", size, MIN_SIDE)
        self.seed = check_int("seed", seed, 0)
        self.classes: Tuple[str, ...] = tuple(sorted([*photos(), *BLOBS, *GRATINGS]))

    def __len__(self) -> int:
        return self.n

    @property
    def fingerprint(self) -> str:
        """What the set's pictures depend on, so a scan of it is cached on disk (see ``engine.scan``)."""
        return f"stand_in n={self.n} size={self.size} seed={self.seed} classes={','.join(self.classes)} v1"

    @property
    def targets(self) -> List[int]:
        """The label of every item, without drawing the pictures."""
        return [i % len(self.classes) for i in range(self.n)]

    def __getitem__(self, i: int) -> Tuple[Image.Image, int]:
        img, label, _ = self.render(i)
        return img, label

    def region(self, i: int) -> Optional[Box]:
        """Where item ``i``'s blob or grating lies, as (top, left, bottom, right) pixels, bottom/right exclusive;
        ``None`` for a photo."""
        return self.render(i)[2]

    def render(self, i: int) -> Tuple[Image.Image, int, Optional[Box]]:
        """Item ``i``'s picture, label and the region of its blob or grating (``None`` for a photo)."""
        if not 0 <= i < self.n:
            raise IndexError(f"item {i} of a stand-in set of {self.n}")
        label = i % len(self.classes)
        name = self.classes[label]
        rng = np.random.default_rng((self.seed, i))
        if name in BLOBS or name in GRATINGS:
            draw = _blob if name in BLOBS else _grating
            pixels, box = draw(rng, self.size, {**BLOBS, **GRATINGS}[name])
            return Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8)), label, box
        return _photo(rng, photos()[name], self.size), label, None


def stand_in(n: int = 2000, size: int = 96, seed: int = 0) -> StandIn:
    """The offline labelled set as a torch ``Dataset`` of ``(PIL RGB image, label)`` with ``.classes``.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Side of the square images in pixels.
    seed : int
        The same seed gives the same pictures.
    """
    return StandIn(n, size, seed)


def write_stand_in(folder: Union[str, Path], n: int = 2000, size: int = 96, seed: int = 0) -> Path:
    """Write :func:`stand_in`'s set as files ``<folder>/<class>/<i>.jpg`` (photos, JPEG, so a folder scan
    decodes real JPEGs) or ``.png`` (the synthetic classes, exact), and return the folder.

    Parameters
    ----------
    folder : str or Path
        Where to write; created if missing. Files of the same name are replaced.
    n, size, seed : int
        As for :func:`stand_in`.
    """
    root = Path(folder)
    data = stand_in(n, size, seed)
    for name in data.classes:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(len(data)):
        img, label = data[i]
        name = data.classes[label]
        if name in BLOBS or name in GRATINGS:
            img.save(root / name / f"{i:05d}.png")
        else:
            img.save(root / name / f"{i:05d}.jpg", quality=90)
    return root
