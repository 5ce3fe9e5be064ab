"""A synthetic results database, deterministic, for tests, benchmarks and trying the site out.

    >>> from reports.sample_data import write_sample_database
    >>> write_sample_database("/tmp/sample.duckdb", images_per_set=8)

It has what a real database has — a run with provenance, a deblurring dataset (motion and defocus
triplets) and an LR dataset of sets in several domains, plain methods and SinGAN variants with a
``gen_start_scale`` parameter and several samples, full-reference and no-reference metrics, an
identical output (PSNR = ∞), a metric whose weights are missing (status ``unavailable``), a
failed case and an earlier code version of one method (history) — but its scores are random
numbers: never publish them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from restorebench.bench.store import Store

DOMAINS = {"aerial": ["aerial-a", "aerial-b"], "medical": ["medical-a", "medical-b"], "flora": ["flora-a"]}
METRICS = [
    # name, kind, higher_is_better, low, high
    ("psnr", "FR", True, 0.0, float("inf")),
    ("ssim", "FR", True, -1.0, 1.0),
    ("niqe", "NR", False, 0.0, float("inf")),
    ("sharpness", "NR", True, 0.0, 127.5),
    ("nima", "NR", True, 1.0, 10.0),
]
SR_METHODS = {"bicubic": 0.0, "zssr": 0.6, "kernelgan": 0.9}
DEBLUR_METHODS = {"wiener": 0.2, "richardson_lucy": 0.5}
SINGAN_SCALES = (1, 2, 3)
UNAVAILABLE = "weights file nima_mobilenet.pth is missing: get it from the NIMA authors and put it in ~/.cache/restorebench/weights"


def _case_id(*parts: Any) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:32]


def write_sample_database(
    path: str | Path,
    *,
    images_per_set: int = 8,
    samples: int = 2,
    seed: int = 0,
    image_dir: str | Path | None = None,
    extra_methods: dict[str, float] | None = None,
    extra_items: dict[str, float] | None = None,
) -> dict[str, int]:
    """Write the sample database to ``path`` (a new file); returns counts of what it wrote.

    ``images_per_set`` images per LR set and per blur kind; ``samples`` SinGAN samples per image
    and start scale; with ``image_dir``, small PNG inputs and outputs are written there and
    recorded in the cases (for galleries). ``extra_methods`` adds SR methods (name → quality
    offset), e.g. a hostile name to test escaping; ``extra_items`` adds images to the first LR
    set (name → quality offset: a large one makes it every method's best image), whose ``zssr``
    sharpness score failed with a message naming the file.
    """
    rng = np.random.default_rng(seed)
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    run_id = "run-sample"
    cases: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    methods: dict[str, dict[str, Any]] = {}
    images = Path(image_dir) if image_dir else None
    if images:
        images.mkdir(parents=True, exist_ok=True)

    def image_file(name: str, shade: int) -> str | None:
        if images is None:
            return None
        from PIL import Image

        target = images / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.png"
        if not target.exists():
            y, x = np.mgrid[0:48, 0:64]
            pixels = np.stack([(x * 4 + shade) % 256, (y * 5 + shade) % 256, np.full_like(x, shade % 256)], axis=-1)
            Image.fromarray(pixels.astype(np.uint8)).save(target)
        return str(target)

    def add_case(*, dataset, task, domain, group, item, method, variant, quality, sample=0, status="ok", error=None,
                 finished=now, failing=None):
        case_id = _case_id(dataset, group, item, variant, sample)
        shade = int(hashlib.sha256(case_id.encode()).hexdigest()[:2], 16)
        cases.append({
            "case_id": case_id, "run_id": run_id, "origin": "run", "dataset": dataset, "task": task,
            "domain": domain, "group_name": group, "item": item, "blur": group if task == "deblur" else None,
            "scale": 2 if task == "sr" else None, "method": method, "variant_id": variant, "seed": 0, "sample": sample,
            "input_path": image_file(f"in-{dataset}-{group}-{item}", shade // 2),
            "reference_path": image_file(f"ref-{dataset}-{group}-{item}", shade // 3),
            "status": status, "error": error,
            "seconds_load": 0.01, "seconds_prepare": float(rng.uniform(0, 2)), "seconds_restore": float(rng.uniform(0.1, 1)),
            "seconds_save": 0.005, "seconds_total": float(rng.uniform(0.5, 3)), "peak_rss_mb": float(rng.uniform(200, 800)),
            "output_path": image_file(f"out-{case_id}", shade) if status == "ok" else None,
            "width": 64, "height": 48, "finished_at": finished,
        })
        if status != "ok":
            return
        base = rng.normal(0, 1) + quality
        for name, kind, higher, _, _ in METRICS:
            if kind == "FR" and task == "sr" and name == "ssim":
                scores.append({"case_id": case_id, "metric": name, "value": None, "status": "not_applicable",
                               "error": "no HR reference", "seconds": None, "run_id": run_id})
                continue
            if name == "nima" and method == "kernelgan":
                scores.append({"case_id": case_id, "metric": name, "value": None, "status": "unavailable",
                               "error": UNAVAILABLE, "seconds": None, "run_id": run_id})
                continue
            if failing and name == failing[0]:
                scores.append({"case_id": case_id, "metric": name, "value": None, "status": "failed",
                               "error": failing[1], "seconds": None, "run_id": run_id})
                continue
            value = {
                "psnr": 26 + 2 * base + rng.normal(0, 0.5),
                "ssim": float(np.clip(0.7 + 0.05 * base + rng.normal(0, 0.02), 0, 1)),
                "niqe": 6 - 0.8 * base + rng.normal(0, 0.3),
                "sharpness": 40 + 5 * base + rng.normal(0, 2),
                "nima": 4.5 + 0.3 * base + rng.normal(0, 0.1),
            }[name]
            scores.append({"case_id": case_id, "metric": name, "value": float(value), "status": "ok", "error": None,
                           "seconds": 0.01, "run_id": run_id})

    sr_methods = {**SR_METHODS, **(extra_methods or {})}
    for method in sr_methods:
        methods[method] = {"variant_id": method, "name": method, "label": method, "params": {"scale": 2},
                           "code_version": hashlib.sha256(method.encode()).hexdigest()[:16],
                           "weights": {"nima_mobilenet.pth": None} if method == "kernelgan" else None,
                           "summary": f"{method} (sample)"}
    first_set = next(iter(DOMAINS.values()))[0]
    for domain, sets in DOMAINS.items():
        for group in sets:
            items = {f"img{i:03d}.png": 0.0 for i in range(images_per_set)}
            if group == first_set:
                items.update(extra_items or {})
            for i, (item, boost) in enumerate(items.items()):
                for method, quality in sr_methods.items():
                    status, error = ("failed", "RuntimeError: out of memory") if (method == "kernelgan" and i == 0) else ("ok", None)
                    failing = ("sharpness", f"cannot read {item}: truncated PNG file") if boost and method == "zssr" else None
                    add_case(dataset="sample-lr", task="sr", domain=domain, group=group, item=item,
                             method=method, variant=method, quality=quality + boost, status=status, error=error, failing=failing)
                # An earlier code version of zssr, scored a day before with worse results: history.
                add_case(dataset="sample-lr", task="sr", domain=domain, group=group, item=item, method="zssr",
                         variant="zssr-old", quality=-1.5 + boost, finished=now - dt.timedelta(days=1))
    methods["zssr-old"] = {**methods["zssr"], "variant_id": "zssr-old", "code_version": "0ld" * 5 + "0"}
    for method in DEBLUR_METHODS:
        methods[method] = {"variant_id": method, "name": method, "label": method, "params": {},
                           "code_version": "0" * 16, "weights": None, "summary": f"{method} (sample)"}
    for scale in SINGAN_SCALES:
        variant = f"singan-s{scale}"
        methods[variant] = {"variant_id": variant, "name": "singan", "label": f"singan (start scale {scale})",
                            "params": {"gen_start_scale": scale, "profile": "fast"}, "code_version": "1" * 16,
                            "weights": None, "summary": "SinGAN with the blurred image injected at the start scale"}
    for group in ("motion", "defocus"):
        for i in range(images_per_set):
            item = f"{i:03d}_IPHONE"
            for method, quality in DEBLUR_METHODS.items():
                add_case(dataset="sample-triplets", task="deblur", domain=None, group=group, item=item,
                         method=method, variant=method, quality=quality)
            for scale in SINGAN_SCALES:
                for sample in range(samples):
                    add_case(dataset="sample-triplets", task="deblur", domain=None, group=group, item=item, method="singan",
                             variant=f"singan-s{scale}", quality=0.3 * (4 - scale), sample=sample)
    # An output identical to its reference: PSNR = inf, a real value.
    for row in scores:
        if row["metric"] == "psnr" and row["status"] == "ok":
            row["value"] = float("inf")
            break

    with Store(path) as store:
        store.upsert("runs", [{
            "run_id": run_id, "kind": "run", "spec_name": "sample", "spec_path": "bench/specs/sample.yaml",
            "spec_sha256": "0" * 64, "spec_text": "name: sample\n# a ``` fence inside\nmethods: [bicubic]\nmetrics: [nima, niqe, psnr, ssim, sharpness]\n",
            "started_at": now, "finished_at": now + dt.timedelta(minutes=3), "status": "partial",
            "git_sha": "0123456789abcdef0123456789abcdef01234567", "git_dirty": False,
            "versions": {"python": "3.11", "restorebench": "0.1.0"},
            "machine": {"cpu": "sample CPU", "cores": 2, "memory_gb": 24.0, "gpu": None},
            "argv": "restorebench run sample.yaml", "n_planned": len(cases), "n_skipped": 0,
            "n_ok": sum(c["status"] == "ok" for c in cases), "n_failed": sum(c["status"] != "ok" for c in cases),
        }])
        store.upsert("metrics", [{"name": n, "kind": k, "higher_is_better": h, "range_low": lo, "range_high": hi,
                                  "options": {}, "code_version": "sample", "conventions": f"{n} (sample)"}
                                 for n, k, h, lo, hi in METRICS])
        store.upsert("datasets", [
            {"name": "sample-lr", "kind": "lr_sets", "task": "sr", "source": "sample", "root": None, "options": {},
             "n_items": images_per_set * sum(map(len, DOMAINS.values()))},
            {"name": "sample-triplets", "kind": "blur_triplets", "task": "deblur", "source": "sample", "root": None,
             "options": {}, "n_items": images_per_set},
        ])
        store.upsert("methods", list(methods.values()))
        store.write_results(cases, scores)
    return {"cases": len(cases), "scores": len(scores)}
