"""Generated coloured shapes: a CIFAR-shaped task (RGB, 10 classes) that works offline.

Each image has a random background and foreground colour, a shape of random size and position,
and pixel noise, all drawn from the seed, so the same seed always gives the same images.
"""

from __future__ import annotations

import numpy as np

from core.data.raw import RawDataset

SHAPE_NAMES = [
    "disk", "square", "triangle", "ring", "cross",
    "plus", "diamond", "horizontal_bar", "vertical_bar", "frame",
]
DEFAULT_SHAPES_IMAGES = 6000


def _shape_mask(kind: int, ys: np.ndarray, xs: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of one shape centred at (0, 0) in the coordinates ys, xs."""
    ay, ax = np.abs(ys), np.abs(xs)
    thickness = max(radius * 0.3, 1.0)
    if kind == 0:
        return ys**2 + xs**2 <= radius**2
    if kind == 1:
        return np.maximum(ay, ax) <= radius * 0.85
    if kind == 2:
        # Upward triangle: inside the base and the two slanted sides.
        return (ys <= radius * 0.8) & (ys >= -radius) & (ax <= (ys + radius) * 0.55)
    if kind == 3:
        distance = np.sqrt(ys**2 + xs**2)
        return (distance <= radius) & (distance >= radius - thickness)
    if kind == 4:
        return (np.abs(ys - xs) <= thickness * 0.8) | (np.abs(ys + xs) <= thickness * 0.8)
    if kind == 5:
        return ((ay <= thickness / 2) & (ax <= radius)) | ((ax <= thickness / 2) & (ay <= radius))
    if kind == 6:
        return ay + ax <= radius
    if kind == 7:
        return (ay <= thickness / 2) & (ax <= radius)
    if kind == 8:
        return (ax <= thickness / 2) & (ay <= radius)
    outer = np.maximum(ay, ax) <= radius * 0.9
    inner = np.maximum(ay, ax) <= radius * 0.9 - thickness
    return outer & ~inner


def generate_shapes(num_images: int, image_size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, S, S, 3) uint8 and labels (N,) with classes balanced to within one image."""
    rng = np.random.default_rng(seed)
    labels = np.arange(num_images) % len(SHAPE_NAMES)
    rng.shuffle(labels)
    images = np.empty((num_images, image_size, image_size, 3), dtype=np.uint8)
    grid = np.arange(image_size, dtype=np.float32)
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    for index, kind in enumerate(labels):
        radius = rng.uniform(0.18, 0.38) * image_size
        centre_y, centre_x = rng.uniform(radius, image_size - radius, size=2)
        background = rng.uniform(0, 255, size=3)
        foreground = rng.uniform(0, 255, size=3)
        # Keep the shape visible: push the foreground away from a too-similar background.
        if np.abs(foreground - background).sum() < 150:
            foreground = 255 - background
        mask = _shape_mask(int(kind), ys - centre_y, xs - centre_x, radius)
        image = np.where(mask[..., None], foreground, background)
        image += rng.normal(0, 12, size=image.shape)
        images[index] = np.clip(image, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def load_shapes_raw(num_images: int | None, image_size: int | None, seed: int) -> RawDataset:
    count = num_images or DEFAULT_SHAPES_IMAGES
    size = image_size or 32
    images, labels = generate_shapes(count, size, seed)
    return RawDataset(
        name="shapes",
        x_train=images,
        y_train=labels,
        class_names=list(SHAPE_NAMES),
        fingerprint=f"shapes-v1-{count}-{size}-{seed}",
        sized_by_loader=True,
    )
