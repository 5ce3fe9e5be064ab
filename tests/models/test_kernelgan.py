"""KernelGAN (+ZSSR): the official networks, kernel read-out and post-processing, the ×4 kernel,
kernel downscaling, crop sampling and schedule; a kernel estimate closer to the truth than
bicubic; ZSSR helped by the true kernel; determinism and input checks.

The estimation cases use a 96×96 LR image (astronaut crop, anisotropic Gaussian σ 2.5/1.0 at 30°)
and the ``fast`` profile (600 iterations): about 12 s of CPU each; the end-to-end cases a few
iterations.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from restorebench import models  # noqa: E402
from restorebench.metrics.errors import InvalidImageError  # noqa: E402
from restorebench.metrics.matlab import imresize  # noqa: E402
from restorebench.metrics.psnr import psnr  # noqa: E402
from restorebench.models import kernelgan as K  # noqa: E402
from restorebench.models import zssr as Z  # noqa: E402
from restorebench.models.base import RestoreContext  # noqa: E402
from restorebench.models.kernels import anisotropic_gaussian_kernel, gaussian_kernel  # noqa: E402
from restorebench.metrics.kernel_accuracy import kernel_error  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRUE_KERNEL = anisotropic_gaussian_kernel(2.5, 1.0, np.pi / 6)


def degrade(hr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """LR = quantised ``(k ⋆ HR)↓2`` with the kernel aligned as ZSSR aligns it."""
    lr = Z.downscale(hr.astype(np.float64) / 255.0, 2, kernel=Z.align_kernel(kernel, scale=2))
    return Z.to_uint8(lr)


@pytest.fixture(scope="module")
def astronaut():
    """``(hr, lr)``: a 192×192 crop of the astronaut photo and its kernel-degraded ×½ version."""
    from skimage import data

    hr = np.ascontiguousarray(data.astronaut()[40:232, 160:352])
    return hr, degrade(hr, TRUE_KERNEL)


# -- networks -------------------------------------------------------------------------------------

def test_networks_have_the_official_layout():
    generator = torch.Generator().manual_seed(0)
    g_net = K.build_generator(K.PAPER, generator=generator)
    d_net = K.build_discriminator(K.PAPER, generator=generator)
    convs = list(g_net.layers)
    # configs.G_structure [7, 5, 3, 1, 1, 1], G_chan 64, no biases, stride 2 on the last layer.
    assert [tuple(c.weight.shape) for c in convs] == [(64, 1, 7, 7), (64, 64, 5, 5), (64, 64, 3, 3),
                                                      (64, 64, 1, 1), (64, 64, 1, 1), (1, 64, 1, 1)]
    assert all(c.bias is None for c in convs) and [c.stride for c in convs] == [(1, 1)] * 5 + [(2, 2)]
    assert sum(p.numel() for p in g_net.parameters()) == 64 * 49 + 64 * 64 * (25 + 9 + 1 + 1) + 64 == 150_656
    # D: 7×7 conv 3→64, 5 × (1×1 conv, BN, ReLU), 1×1 conv → 1, sigmoid; all convs spectrally normalised.
    d_convs = [m for m in d_net if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(c.weight_orig.shape) for c in d_convs] == [(64, 3, 7, 7)] + [(64, 64, 1, 1)] * 5 + [(1, 64, 1, 1)]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d_net) == 5 and isinstance(d_net[-1], torch.nn.Sigmoid)
    assert sum(p.numel() for p in d_net.parameters()) == (64 * 3 * 49 + 64) + 5 * (64 * 64 + 64 + 2 * 64) + 65 == 30_977
    with torch.no_grad():
        fake = g_net(torch.zeros(1, 3, 64, 64))
        assert fake.shape == (1, 3, 26, 26) and d_net(fake).shape == (1, 1, 20, 20)
    assert (K.PAPER.g_kernel_size, K.PAPER.g_output_size, K.PAPER.d_output_size) == (13, 26, 20)
    # xavier_normal(gain 0.1): std 0.1·√(2 / (64·25 + 64·25)) for the second layer.
    assert convs[1].weight.std().item() == pytest.approx(0.1 * (2 / 3200) ** 0.5, rel=0.02)


def test_paper_profile_holds_the_official_constants():
    p = K.PAPER
    assert (p.max_iters, p.input_crop_size, p.g_chan, p.d_chan, p.d_n_layers, p.d_kernel_size) == (3000, 64, 64, 64, 7, 7)
    assert (p.g_lr, p.d_lr, p.beta1, p.n_filtering, p.edge_shave) == (2e-4, 2e-4, 0.5, 40, 10)
    assert (p.lambda_update_freq, p.update_l_rate_freq) == (200, 750)
    assert K.Lambdas() == K.Lambdas(bicubic=5.0, sum2one=0.5, boundaries=0.5, centralized=0.0, sparse=0.0)
    z = models.get("kernelgan_zssr").settings  # ZSSRforKernelGAN/zssr_configs.py
    assert (z.max_iters, z.crop_size, z.self_ensemble, z.back_projection_iters) == (3000, 128, False, 2)
    assert (z.leave_as_is_probability, z.no_interpolate_probability, z.allow_rotation, z.gradient_loss_map) == (1.0, 0.0, False, True)


def test_generator_kernel_is_the_composite_of_its_layers():
    from scipy.ndimage import correlate
    from scipy.signal import convolve2d

    g_net = K.build_generator(K.PAPER, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    a, b, c = rng.random((7, 7)), rng.random((5, 5)), rng.random((3, 3))
    with torch.no_grad():  # one path through channel 0: G(x) = ((x ⋆ a) ⋆ b ⋆ c)↓2
        for conv in g_net.layers:
            conv.weight.zero_()
        for conv, weights in zip(g_net.layers, (a, b, c, 1.0, 1.0, 1.0)):
            conv.weight[0, 0] = torch.as_tensor(weights)
    expected = convolve2d(convolve2d(a, b), c)  # correlating twice = correlating with the convolution
    kernel = K.generator_kernel(g_net, 13).detach().double().numpy()
    np.testing.assert_allclose(kernel, expected, rtol=1e-5)
    # And G itself is "correlate with that kernel (valid), keep every second pixel".
    x = rng.random((40, 40, 3))
    with torch.no_grad():
        out = g_net(torch.as_tensor(x.transpose(2, 0, 1)[None], dtype=torch.float32))[0].double().numpy()
    direct = np.stack([correlate(x[..., ch], expected)[6:-6:2, 6:-6:2] for ch in range(3)])
    np.testing.assert_allclose(out, direct, rtol=1e-4)


# -- kernels ----------------------------------------------------------------------------------------

def test_bicubic_kernel_is_the_official_table_and_matlab_imresize():
    k = Z.bicubic_kernel(2)
    assert k.shape == (8, 8) and k.sum() == pytest.approx(1.0, abs=1e-12)
    # Entries of loss.DownScaleLoss.bicubic_k (which prints the centre as 0.1880035400390630).
    assert (k[0, 0], k[0, 3], k[2, 3]) == (0.0001373291015625, -0.0050811767578125, 0.0491180419921875)
    assert k[3, 3] == pytest.approx(0.1880035400390630, abs=1e-15)
    # Correlation at stride 2 with it is MATLAB's antialiased bicubic ×½ away from the borders.
    from scipy.ndimage import correlate

    x = np.random.default_rng(0).random((32, 32))
    # scipy centres the 8 taps at index 4: pixel 2i + 1 weighs x[2i − 3 … 2i + 4], centred at 2i + ½.
    direct = correlate(x, k, mode="constant")[1::2, 1::2]
    np.testing.assert_allclose(direct[2:-2, 2:-2], imresize(x, 0.5)[2:-2, 2:-2], atol=1e-12)


def test_penalty_mask_weighs_only_the_kernel_frame():
    mask = K.penalty_mask(13)
    assert np.all(mask[2:-2, 2:-2] == 0) and np.all(mask[[0, 1, -2, -1], :] > 0)
    g = np.exp(-np.arange(-6, 7) ** 2 / (2 * 13.0**2))
    np.testing.assert_allclose(mask[0], 30 * (1 - g[0] * g / g[6] ** 2), rtol=1e-12)


def test_post_processing_keeps_the_largest_values_and_centres_for_x2():
    rng = np.random.default_rng(0)
    raw = rng.random((13, 13)) ** 4
    out = K.post_process_kernel(raw, n=40)
    floor = 0.75 * np.sort(raw.ravel())[-41]
    kept = np.clip(raw - floor, 0, None)
    assert np.count_nonzero(kept) >= 40 and out.sum() == pytest.approx(1.0, abs=1e-3)
    from scipy.ndimage import center_of_mass

    assert out.shape[0] % 2 == 1 and np.allclose(center_of_mass(out), [out.shape[0] // 2 + 0.5] * 2, atol=0.02)
    # The values are the kept ones, normalised and shifted: same sorted profile up to the shift's smoothing.
    assert np.abs(out).max() == pytest.approx((kept / kept.sum()).max(), rel=0.25)


def test_analytic_x4_kernel_is_the_x2_kernel_twice():
    k = K.post_process_kernel(anisotropic_gaussian_kernel(1.5, 0.8, 0.4, size=13), n=40)
    n = k.shape[0]
    big = np.zeros((3 * n - 2, 3 * n - 2))
    for r in range(n):  # the official loop: a copy of k at (2r, 2c) weighted by k[r, c]
        for c in range(n):
            big[2 * r : 2 * r + n, 2 * c : 2 * c + n] += k[r, c] * k
    expected = big[n // 2 : -(n // 2), n // 2 : -(n // 2)]
    k4 = K.analytic_kernel_x4(k)
    assert k4.shape == (3 * n - 2 - 2 * (n // 2),) * 2
    np.testing.assert_allclose(k4, expected / expected.sum(), atol=1e-15)
    # Downscaling ×2 twice with k equals downscaling ×4 once with the uncropped k₄, in the interior.
    from scipy.ndimage import correlate

    x = np.random.default_rng(1).random((96, 96))
    twice = correlate(correlate(x, k)[::2, ::2], k)[::2, ::2]
    once = correlate(x, big)[::4, ::4]  # centre (3n − 2) // 2 = 3·(n // 2): the two centres of k, composed
    np.testing.assert_allclose(twice[6:-6, 6:-6], once[6:-6, 6:-6], rtol=1e-9)


# -- downscaling with a kernel (models/zssr.py) -----------------------------------------------------

def test_kernel_downscaling_with_a_delta_is_subsampling_at_the_official_indices():
    image = np.random.default_rng(0).random((13, 12, 3))
    delta = np.zeros((5, 5))
    delta[2, 2] = 1.0
    out = Z.kernel_downscale(image, delta, scale=2)
    # round(linspace(0, n − s, ⌈n / s⌉)): 0 2 4 6 7 9 11 for 13 rows (NumPy rounds 5.5 to 6); 2i for 12.
    np.testing.assert_array_equal(out, image[[0, 2, 4, 6, 7, 9, 11]][:, ::2])
    np.testing.assert_array_equal(Z.kernel_downscale(image[:12], delta, scale=4), image[:12:4, ::4])


def test_kernel_downscaling_correlates_with_mirrored_borders():
    rng = np.random.default_rng(0)
    image = rng.random((20, 16, 3))
    kernel = rng.random((5, 5))  # asymmetric: correlation and convolution differ
    kernel /= kernel.sum()
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode="symmetric")  # … b a | a b …
    expected = np.zeros_like(image)
    for dr in range(5):
        for dc in range(5):
            expected += kernel[dr, dc] * padded[dr : dr + 20, dc : dc + 16]
    np.testing.assert_allclose(Z.kernel_downscale(image, kernel, scale=2), expected[::2, ::2], atol=1e-12)


def test_aligned_kernel_samples_the_centre_of_each_cell_as_bicubic_does():
    from scipy.ndimage import center_of_mass

    rows, cols = np.mgrid[0:96, 0:96].astype(np.float64)
    ramps = np.stack([rows, cols, rows + cols], axis=2)
    off_centre = anisotropic_gaussian_kernel(2.0, 0.7, 0.5)[2:, 2:]  # 11×11, mass up and left of centre
    off_centre /= off_centre.sum()
    for kernel in (gaussian_kernel(1.2), off_centre):
        for scale in (2, 4):
            aligned = Z.align_kernel(kernel, scale=scale)
            n = aligned.shape[0]
            assert n % 2 == 1 and np.allclose(center_of_mass(aligned), [n // 2 + 0.5 * (scale - 1)] * 2, atol=1e-3)
            # Output (i, j) reads position (s·i + (s − 1)/2, s·j + (s − 1)/2), as bicubic imresize does.
            out = Z.downscale(ramps, scale, kernel=aligned)[6:-6, 6:-6]  # away from the mirrored borders
            i, j = np.mgrid[6 : 96 // scale - 6, 6 : 96 // scale - 6] * scale + (scale - 1) / 2
            np.testing.assert_allclose(out, np.stack([i, j, i + j], axis=2), atol=2e-3)
            np.testing.assert_allclose(out, imresize(ramps, 1 / scale)[6:-6, 6:-6], atol=2e-3)


# -- crops and schedule -----------------------------------------------------------------------------

def test_crop_centres_follow_the_gradients_and_stay_inside():
    rng = np.random.default_rng(0)
    image = np.full((76, 76, 3), 0.5)
    image[:, 38:] = rng.random((76, 38, 3))  # texture on the right half only
    settings = K.resolve_settings("paper", {"max_iters": 500})
    g_centres, d_centres = K.sample_crop_centers(image, rng, settings=settings)
    d_rows, d_cols = np.divmod(d_centres, 76)
    assert d_rows.min() >= 13 and d_rows.max() < 76 - 13 and d_cols.max() < 76 - 13
    assert np.mean(d_cols >= 36) > 0.95  # the flat half draws (almost) no crops
    for centre in g_centres[:50]:
        top, left = K.crop_top_left(centre, size=64, shape=(76, 76))
        assert 0 <= top <= 12 and 0 <= left <= 12 and top % 2 == 0 and left % 2 == 0


def test_schedule_follows_the_official_learner():
    schedule = K.Schedule(K.PAPER)
    log = K.EstimationLog()
    drops = [i for i in range(3000) if schedule.update(i, 0.9 if i < 100 else 0.1, log)]
    assert drops == [750, 1500, 2250]
    # Three iterations in a row below 0.4 (100, 101, 102): similar from 102; then λ_bic / 100 at
    # 200, 400 (constraints join when it falls below 5e-3), 600; floor 5e-6.
    assert log.similar_to_bicubic == 102 and log.constraints_added == 400
    assert schedule.lambdas == K.Lambdas(bicubic=5e-6, sum2one=0.5, boundaries=0.5, centralized=1.0, sparse=5.0)


# -- estimation and super-resolution ----------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_estimate_is_closer_to_the_true_kernel_than_bicubic(astronaut, seed):
    _, lr = astronaut
    psf, log = K.estimate_psf(lr / 255.0, scale=2, settings=K.FAST, seed=seed, device="cpu")  # ≈ 12 s
    assert psf.shape[0] == psf.shape[1] >= 15 and psf.sum() == pytest.approx(1.0, abs=1e-3)
    assert log.similar_to_bicubic is not None and log.constraints_added is not None and len(log.bicubic_ratio) == 600
    error, bicubic_error = kernel_error(psf, TRUE_KERNEL), kernel_error(Z.bicubic_kernel(2), TRUE_KERNEL)
    # Measured (relative L2 error of the centred kernels): bicubic 1.64; seed 0: 0.44, seed 1: 0.60.
    assert error < 0.5 * bicubic_error


def test_zssr_with_the_true_kernel_beats_zssr_with_bicubic(astronaut):
    hr, _ = astronaut
    hr, lr = hr[:96, :96], degrade(hr[:96, :96], TRUE_KERNEL)
    scores = {}
    for choice in ("bicubic", "given"):
        method = models.get("zssr", profile="fast", kernel=choice, max_iters=60)
        method.prepare(RestoreContext(task="sr", scale=2, seed=0, device="cpu", psf=TRUE_KERNEL))
        scores[choice] = psnr(method.restore(lr), hr)
    # Measured (seed 0): bicubic kernel 25.94 dB, true kernel 28.31 dB.
    assert scores["given"] > scores["bicubic"] + 1.0


def run(lr: np.ndarray, *, seed: int = 0, scale: int = 2, **params) -> tuple[np.ndarray, K.KernelGANZSSR]:
    method = models.get("kernelgan_zssr", profile="fast", kernelgan_iters=3, max_iters=3, **params)
    method.prepare(RestoreContext(task="sr", scale=scale, seed=seed, device="cpu"))
    return method.restore(lr), method


def test_method_runs_end_to_end_and_exposes_its_kernel(astronaut):
    _, lr = astronaut
    small = lr[:40, :50]  # a 32-pixel crop fits after shaving 4 of the official 10 pixels
    out, method = run(small)
    psf = method.estimated_kernel()
    assert out.shape == (80, 100, 3) and out.dtype == np.uint8
    assert psf.shape[0] == psf.shape[1] >= 15 and len(method.kernelgan_log.bicubic_ratio) == 3
    out4, method4 = run(small, scale=4)
    assert out4.shape == (160, 200, 3)
    n = psf.shape[0]
    assert method4.estimated_kernel().shape[0] == 3 * n - 2 - 2 * (n // 2)  # the analytic ×4 kernel


def test_same_seed_same_bytes_other_seed_other_output(astronaut):
    _, lr = astronaut
    (first, a), (again, b), (other, c) = (run(lr[:60, :60], seed=s) for s in (0, 0, 1))
    assert first.tobytes() == again.tobytes() and np.array_equal(a.estimated_kernel(), b.estimated_kernel())
    assert np.any(first != other) and not np.array_equal(a.estimated_kernel(), c.estimated_kernel())


@pytest.mark.parametrize(("profile", "size", "minimum"), [("fast", (31, 70), 32), ("paper", (90, 63), 64)])
def test_too_small_input_is_refused_with_the_sizes(profile, size, minimum):
    method = models.get("kernelgan_zssr", profile=profile)
    method.prepare(RestoreContext(task="sr", scale=2, device="cpu"))
    with pytest.raises(InvalidImageError, match=rf"{size[1]}×{size[0]} pixels; it needs at least {minimum}×{minimum}"):
        method.restore(np.zeros((*size, 3), np.uint8))


def test_edge_shave_is_the_official_one_or_what_leaves_room_for_a_crop():
    assert K.edge_to_shave((96, 96, 3), K.PAPER) == 10
    assert K.edge_to_shave((96, 70, 3), K.PAPER) == 3
    assert K.edge_to_shave((48, 48, 3), K.FAST) == 8


def test_parameters_are_checked_and_only_given_ones_are_recorded():
    assert "kernelgan_zssr" in models.available()
    with pytest.raises(ValueError):
        models.get("kernelgan_zssr", iterations=10)
    with pytest.raises(ValueError):
        models.get("kernelgan_zssr", scale=3)
    with pytest.raises(ValueError):
        models.get("kernelgan_zssr", kernel="bicubic")
    method = models.get("kernelgan_zssr", profile="fast", kernelgan_iters=7, crop_size=48)
    assert method.params_dict == {"profile": "fast", "kernel": "estimated", "kernelgan_iters": 7, "crop_size": 48}
    assert (method.kernelgan_settings.max_iters, method.settings.crop_size) == (7, 48)
    assert method.sr_scales() == frozenset({2, 4}) and not method.stochastic and method.weights == ()
    # The same computation as zssr with kernel: estimated, under its own name.
    same = models.get("zssr", profile="fast", kernel="estimated", kernelgan_iters=7, crop_size=48)
    assert (same.settings, same.kernelgan_settings) == (method.settings, method.kernelgan_settings)
