"""Sampling a trained pyramid: injection of an image at a start scale, or unconditional samples.

**Injection** at start scale ``n`` (1 ≤ n ≤ N−1, scales 0 … N−1) is the official paint-to-image /
harmonisation procedure applied to the blurred photo: the image is brought to the finest scale's
size the way the training image was, downsampled to scale ``n − 1``
(``imresize(x, r^(N−n))``, cropped), upsampled to scale ``n`` (``imresize(·, 1/r)``, cropped), and
generators ``n … N−1`` run on it with fresh noise ``σ_k · z_k`` at every scale. A small ``n``
keeps only the coarse layout of the blurred photo and lets SinGAN regenerate the rest; ``n`` near
``N`` keeps almost all of it.

This is the correction of the original study's first flaw. Its notebook trained SinGAN with
``main_train.py --input_name 122_HONOR-7X_S_256x256.jpg`` (the sharp photo) and sampled with
``random_samples.py --input_name 122_HONOR-7X_F_256x256.jpg --mode random_samples
--gen_start_scale n`` (the blurred photo's name). In that mode ``--input_name`` injects nothing:
it only sets the scales and names the trained pyramid to load, ``TrainedModels/<input name>/…``
— the pyramid trained on the image of that name. ``SinGAN_generate`` then starts from zeros at
scale 0 (the ``in_s`` that ``random_samples.py`` computes is never passed), replays that
pyramid's reconstruction noise ``Z_opt`` below ``n`` and draws fresh noise from ``n`` on. With only
the sharp photo's pyramid trained, the command finds no model of that name and stops; the
study's samples therefore come from a pyramid trained on the blurred photo itself (the
notebook's first revision trained and sampled one and the same blurred image). Either way the
sharp photo's generators never saw the blurred photo: the samples are unconditional samples of
one image's SinGAN.

**Random** mode is the unconditional sample from scale 0 (fresh noise everywhere), for reference.

Noise is drawn per scale from a generator seeded with ``(seed, sample, scale)``: the same case
always gives the same output, and different start scales and inputs of one sample share the
noise of the scales they both run (common random numbers, which lowers the variance of
comparisons between start scales).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from restorebench.metrics.matlab import imresize
from restorebench.models.singan.imaging import crop, official_resize, to_signed, to_uint8
from restorebench.models.singan.pyramid import Pyramid, gaussian_noise
from restorebench.models.weights import array_to_tensor


def noise_seed(seed: int, sample: int, scale: int) -> int:
    """A 63-bit seed for the noise of one scale of one sample (stable across processes)."""
    digest = hashlib.sha256(f"singan-noise:{seed}:{sample}:{scale}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def injection_input(pyramid: Pyramid, image: np.ndarray, start: int) -> np.ndarray:
    """The injected image at scale ``start``, ``(H_start, W_start, 3)`` in ``[-1, 1]``.

    ``image`` is uint8 RGB with the training image's size.
    """
    geometry = pyramid.geometry
    if image.shape[:2] != geometry.image_shape:
        raise ValueError(f"the injected image is {image.shape[:2]}, the training image {geometry.image_shape}")
    top = official_resize(to_signed(image), geometry.scale1)
    coarse = crop(official_resize(top, geometry.downscale_to(start - 1)), geometry.shapes[start - 1])
    return crop(official_resize(coarse, 1.0 / geometry.scale_factor), geometry.shapes[start])


def generate(pyramid: Pyramid, *, start: int | None, image: np.ndarray | None = None, seed: int, sample: int) -> np.ndarray:
    """One sample at the finest scale's size, uint8 RGB.

    ``start=None`` gives an unconditional sample; otherwise ``image`` (uint8, training-image size)
    is injected at scale ``start``.
    """
    last = pyramid.geometry.num_scales - 1
    device = pyramid.device
    generators: dict[int, torch.Generator] = {}

    def noise(scale: int, batch: int) -> torch.Tensor:
        if scale not in generators:
            generators[scale] = torch.Generator(device=device)
            generators[scale].manual_seed(noise_seed(seed, sample, scale))
        return gaussian_noise(
            pyramid.geometry.shapes[scale], batch=batch, coarsest=scale == 0,
            padding=pyramid.settings.padding, generator=generators[scale], device=device,
        )

    if start is None:
        first, begin = 0, pyramid.zeros(0)
    else:
        if not 1 <= start <= last:
            raise ValueError(f"start scale {start} is outside 1…{last} for this {last + 1}-scale pyramid")
        if image is None:
            raise ValueError("injection needs an image")
        first, begin = start, array_to_tensor(injection_input(pyramid, image, start), device)
    out = pyramid.run(begin, first=first, last=last, noise=noise)
    return to_uint8(out[0].permute(1, 2, 0).cpu().numpy())


def resize_output(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bring a finest-scale sample back to the caller's ``(H, W)`` (MATLAB bicubic, uint8).

    The finest scale is smaller than the photo whenever the photo exceeds ``max_size`` (256 px →
    250 px in the paper profile, far less in the fast one); full-reference metrics need the
    photo's size, so the sample is resized, which cannot restore the detail the pyramid never had.
    """
    if image.shape[:2] == tuple(shape):
        return image
    return imresize(image, output_shape=tuple(shape))
