"""bench/specs/singan.yaml on a folder in the public blur dataset's layout (2048-px JPEGs,
blurred photos not pixel-aligned with the sharp one): the same spec with ``root:`` set, the
photos resized to 256×256 as in the study, outputs registered to the sharp photo before the
full-reference metrics, and the registration recorded per case."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec
from restorebench.bench.store import Store

ROOT = Path(__file__).resolve().parents[2]
SHIFT = 48  # pixels at 2048 px = 6 pixels at 256 px


def real_layout(root: Path) -> Path:
    """One triplet ``7_NIKON_{S,M,F}.JPG`` of 2048×2048 JPEGs; the blurred photos are shifted."""
    from scipy import ndimage
    from skimage import data

    sharp = np.asarray(Image.fromarray(data.astronaut()).resize((2048, 2048), Image.BICUBIC))
    motion = ndimage.uniform_filter1d(sharp.astype(np.float32), size=25, axis=1)
    defocus = np.stack([ndimage.gaussian_filter(sharp[..., c].astype(np.float32), 6) for c in range(3)], axis=-1)
    for folder, kind, image in (("sharp", "S", sharp), ("motion_blurred", "M", motion), ("defocused_blurred", "F", defocus)):
        shifted = np.roll(image, (SHIFT, -SHIFT), axis=(0, 1)) if kind != "S" else image
        (root / folder).mkdir(parents=True)
        Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8)).save(root / folder / f"7_NIKON_{kind}.JPG", quality=92)
    return root


def test_singan_spec_runs_on_a_real_layout_folder(tmp_path, write_spec):
    folder = real_layout(tmp_path / "blur")
    text = (ROOT / "bench" / "specs" / "singan.yaml").read_text()
    dataset = "{name: builtin-triplets, kind: blur_triplets, source: builtin, limit: 2}"
    method = "{name: singan, profile: fast, gen_start_scale: [1, 2, 3, 4, 5], samples: 5, inputs: [motion, defocus]}"
    assert dataset in text and method in text  # this test edits the shipped spec, not a copy of it
    text = text.replace(dataset, f"{{name: real, kind: blur_triplets, root: {folder}, size: 256, align: phase}}")
    # a tiny training so that the test is quick: what is tested is the data path, not SinGAN
    text = text.replace(method, "{name: singan, profile: fast, max_size: 40, iterations: 2, nfc: 8, min_nfc: 8, "
                                "gen_start_scale: [1, 3], samples: 1, inputs: [motion, defocus]}")
    text = text.replace("metrics: [psnr, ssim, niqe, brisque, piqe, nima, sharpness]", "metrics: [psnr, ssim, sharpness]")
    db = tmp_path / "db.duckdb"
    summary = run(load_spec(write_spec(text)), RunOptions(db=db, out_dir=tmp_path / "out", workers=0, progress=False))
    assert summary.status_counts == {"ok": 4}  # 2 inputs × 2 start scales × 1 sample
    with Store(db, read_only=True) as store:
        cases = store.con.execute("SELECT item, width, height, alignment FROM cases ORDER BY item").fetchall()
        n_scores = store.con.execute("SELECT count(*) FROM scores WHERE status = 'ok'").fetchall()[0][0]
    assert {c[0] for c in cases} == {"7_NIKON/motion", "7_NIKON/defocus"}
    assert all((w, h) == (256, 256) for _, w, h, _ in cases)
    assert n_scores == 4 * 3
    # SinGAN's output follows the injected (shifted) photo, and phase correlation undoes the shift:
    # the estimate has the shift's direction and about its size. (Only about: a generator trained
    # for two iterations adds noise that moves the estimate with the CPU's arithmetic — 4.4 px
    # instead of 6 on one machine; the registration's accuracy is tests/metrics/test_registration.py's.)
    for _, _, _, alignment in cases:
        assert alignment.startswith("phase ")
        dy, dx = (float(part.split("=")[1]) for part in alignment.split()[1:])
        assert abs(dy + SHIFT / 8) < SHIFT / 16 and abs(dx - SHIFT / 8) < SHIFT / 16
