"""Blur kernels (point-spread functions): Gaussian, anisotropic Gaussian, disk, camera shake.

Every kernel is a float64 array of odd size that sums to 1. These are used both to synthesise
the builtin datasets and by non-blind methods that need a PSF guess.
"""
from __future__ import annotations

import numpy as np


def _normalised(kernel: np.ndarray) -> np.ndarray:
    kernel = np.clip(kernel, 0, None)
    return kernel / kernel.sum()


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    r = (size - 1) / 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return x, y


def gaussian_kernel(sigma: float, *, size: int | None = None) -> np.ndarray:
    """Isotropic Gaussian ``exp(-(x² + y²) / 2σ²)``; size defaults to ``2·ceil(3σ) + 1``."""
    return anisotropic_gaussian_kernel(sigma, sigma, 0.0, size=size)


def anisotropic_gaussian_kernel(
    sigma_x: float, sigma_y: float, theta: float, *, size: int | None = None
) -> np.ndarray:
    """Gaussian with covariance ``R diag(σx², σy²) Rᵀ``, ``R`` the rotation by ``theta`` radians."""
    if size is None:
        size = 2 * int(np.ceil(3 * max(sigma_x, sigma_y))) + 1
    x, y = _grid(size)
    c, s = np.cos(theta), np.sin(theta)
    u = c * x + s * y
    v = -s * x + c * y
    return _normalised(np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2)))


def disk_kernel(radius: float) -> np.ndarray:
    """Defocus PSF: a uniform disk of ``radius`` pixels, anti-aliased at its rim by 8× supersampling
    (as MATLAB's ``fspecial('disk')`` approximates the pixel coverage)."""
    size = 2 * int(np.ceil(radius)) + 1
    factor = 8
    fine = (np.arange(size * factor) + 0.5) / factor - size / 2
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    inside = (xx * xx + yy * yy <= radius * radius).astype(np.float64)
    coverage = inside.reshape(size, factor, size, factor).mean(axis=(1, 3))
    return _normalised(coverage)


def motion_kernel(rng: np.random.Generator, *, size: int = 21, length: float = 1.0, steps: int = 2000) -> np.ndarray:
    """Camera-shake kernel from a random trajectory (after Boracchi & Foi, 2012).

    A particle with inertia, random acceleration and occasional impulsive jerks traces a path of
    ``steps`` points; the path is scaled to fit the kernel (``length`` ≤ 1 of its width) and
    splatted with bilinear weights, so the kernel is the fraction of exposure time spent at each
    pixel.
    """
    max_length = 60.0
    step = max_length / (steps - 1)
    anxiety = 0.1 * rng.uniform()
    centripetal = 0.7 * rng.uniform()
    gaussian_term = 0.7 * rng.uniform()
    big_shakes = 0.2 * rng.uniform()
    angle = 2 * np.pi * rng.uniform()
    velocity = complex(np.cos(angle), np.sin(angle)) * step
    position = 0j
    path = np.empty(steps, dtype=np.complex128)
    for t in range(steps):
        jerk = 0j
        if rng.uniform() < big_shakes * 0.005:
            jerk = 2 * velocity * np.exp(1j * (np.pi + (rng.uniform() - 0.5)))
        noise = complex(rng.normal(), rng.normal())
        velocity += jerk + anxiety * (gaussian_term * noise - centripetal * position) * step
        velocity = velocity / (abs(velocity) + 1e-12) * step
        position += velocity
        path[t] = position
    path -= path.mean()
    extent = max(np.abs(path.real).max(), np.abs(path.imag).max(), 1e-9)
    path *= (size - 1) / 2 * length / extent
    kernel = np.zeros((size, size))
    centre = (size - 1) / 2
    xs = path.real + centre
    ys = path.imag + centre
    x0 = np.floor(xs).astype(int)
    y0 = np.floor(ys).astype(int)
    fx = xs - x0
    fy = ys - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi = np.clip(x0 + dx, 0, size - 1)
        yi = np.clip(y0 + dy, 0, size - 1)
        np.add.at(kernel, (yi, xi), w)
    return _normalised(kernel)
