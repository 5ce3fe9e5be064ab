"""Targeted mutation testing: plant one realistic bug at a time in a scratch copy of the code and
see whether the tests catch it.

Each mutant is a bug a real change could introduce — a metric constant off by a little, a resume
rule inverted, a field left out of the case identity, an escape removed — with the test files
that should catch it. A mutant *survives* when those tests still pass: that behaviour is
unguarded. (A general tool such as mutmut generates thousands of trivial mutants; these few
dozen are chosen so that each survivor is worth a test.)

    .venv/bin/python tests/tools/mutants.py                 # the working tree
    .venv/bin/python tests/tools/mutants.py --rev 1bf3aa2   # another revision (a git worktree)
    .venv/bin/python tests/tools/mutants.py --only ssim     # mutants whose name contains "ssim"

It prints one line per mutant (killed / SURVIVED / not applicable, seconds) and a count; the exit
status is the number of survivors (capped at 100). Not part of CI: it runs the named tests once per
mutant, about half an hour for all of them on two cores.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the checkout
    pattern: str  # a regular expression that must match exactly once
    replacement: str
    tests: tuple[str, ...]  # test file names (found anywhere under tests/)
    matches: int = 1  # how often the pattern occurs (every occurrence is mutated)


MUTANTS = [
    # -- metrics: the authors' constants and conventions --------------------------------------------
    Mutant("ssim K1 0.01 → 0.015", "metrics/ssim.py", r"k1: float = 0\.01", "k1: float = 0.015", ("test_metric_ssim.py", "test_metric_properties.py", "test_metric_calibration.py"), matches=2),
    Mutant("ssim K2 0.03 → 0.035", "metrics/ssim.py", r"k2: float = 0\.03", "k2: float = 0.035", ("test_metric_ssim.py", "test_metric_properties.py", "test_metric_calibration.py"), matches=2),
    Mutant("ssim window σ 1.5 → 1.6", "metrics/ssim.py", r"    sigma: float = 1\.5,", "    sigma: float = 1.6,", ("test_metric_ssim.py", "test_metric_properties.py", "test_metric_calibration.py"), matches=2),
    Mutant("psnr data range 255 → 256", "metrics/psnr.py", r"data_range: float = 255\.0", "data_range: float = 256.0", ("test_metric_properties.py", "test_metric_calibration.py")),
    Mutant("psnr_y luma coefficient 65.481 → 65.5", "metrics/matlab.py", r"YCBCR_Y_COEFFS = \(65\.481,", "YCBCR_Y_COEFFS = (65.5,", ("test_metric_matlab.py", "test_metric_properties.py", "test_metric_calibration.py")),
    Mutant("ms_ssim first weight 0.0448 → 0.0450", "metrics/ms_ssim.py", r"MS_SSIM_WEIGHTS = \(0\.0448,", "MS_SSIM_WEIGHTS = (0.0450,", ("test_metric_ms_ssim.py", "test_metric_calibration.py")),
    Mutant("niqe block 96 → 80", "metrics/niqe.py", r"BLOCK_SIZE = 96", "BLOCK_SIZE = 80", ("test_metric_niqe.py", "test_metric_calibration.py")),
    Mutant("nss GGD grid starts at 0.3", "metrics/nss.py", r"GRID_START, GRID_STEP, GRID_STOP = 0\.2,", "GRID_START, GRID_STEP, GRID_STOP = 0.3,", ("test_metric_nss.py", "test_metric_calibration.py")),
    Mutant("piqe activity threshold 0.1 → 0.2", "metrics/piqe.py", r"ACTIVITY_THRESHOLD = 0\.1", "ACTIVITY_THRESHOLD = 0.2", ("test_metric_piqe.py", "test_metric_calibration.py")),
    Mutant("imresize cubic a −0.5 → −0.75", "metrics/matlab.py", r"-0\.5 \* absx3 \+ 2\.5 \* absx2 - 4 \* absx \+ 2", "-0.75 * absx3 + 3.75 * absx2 - 6 * absx + 3", ("test_metric_matlab.py", "test_metric_calibration.py")),
    Mutant("rgb2gray R weight rounded to 0.299", "metrics/matlab.py", r"RGB2GRAY_COEFFS = \(0\.298936021293775,", "RGB2GRAY_COEFFS = (0.299,", ("test_metric_matlab.py", "test_metric_calibration.py")),
    Mutant("sharpness sample std (ddof 1)", "metrics/sharpness.py", r"np\.std\(gray\.astype\(np\.float64\)\)", "np.std(gray.astype(np.float64), ddof=1)", ("test_metric_properties.py",)),
    Mutant("16-bit images truncated instead of rounded", "metrics/imageio.py", r"/ 257\.0 \+ 0\.5", "/ 257.0", ("test_imageio.py",)),
    # -- the runner: resume rules ------------------------------------------------------------------
    Mutant("failed cases counted as done on re-run", "bench/store.py", r"status IN \('ok', 'unavailable'\) AND case_id IN", "status IN ('ok', 'unavailable', 'failed', 'timeout', 'crashed', 'invalid_input') AND case_id IN", ("test_runner.py", "test_interruptions.py")),
    Mutant("stale metric versions never rescored", "bench/runner.py", r"have\.get\(m\.key, \"missing\"\) != metric_versions\[m\.key\]", "m.key not in have", ("test_runner.py", "test_versions_rescore.py")),
    Mutant("a changed output file is rescored anyway", "bench/runner.py", r"return sha256 is not None and file_digest\(Path\(path\)\) == sha256", "return Path(path).is_file()", ("test_data_safety.py",)),
    Mutant("interrupted runs drop their finished cases", "bench/runner.py", r"                batcher\.flush\(\)  # cases that finished before the interruption are kept", "                pass", ("test_interruptions.py", "test_runner.py")),
    # -- the plan: case identity -------------------------------------------------------------------
    Mutant("case id ignores the seed", "bench/plan.py", r"\"seed\": seed,", "\"seed\": 0,", ("test_plan.py", "test_runner.py", "test_spec.py")),
    Mutant("case id ignores the reference image", "bench/plan.py", r"\"reference\": file_digest\(item\.reference_path\),", "\"reference\": None,", ("test_plan.py", "test_runner.py", "test_data_safety.py")),
    Mutant("SR factors a network lacks are planned", "bench/plan.py", r"if item\.task == \"sr\" and variant\.sr_scales is not None and item\.scale not in variant\.sr_scales:", "if False:", ("test_pretrained_runs.py", "test_runner.py")),
    # -- the store ---------------------------------------------------------------------------------
    Mutant("current_cases keeps the oldest case", "bench/store.py", r"ORDER BY c\.finished_at DESC NULLS LAST", "ORDER BY c.finished_at ASC NULLS LAST", ("test_pretrained_runs.py", "test_runner.py")),
    Mutant("a refused batch is not rolled back", "bench/store.py", r"            self\._rollback\(\)\n            raise StoreWriteError", "            raise StoreWriteError", ("test_data_safety.py",)),
    # -- the site: escaping ------------------------------------------------------------------------
    Mutant("leaderboard notes not escaped", "reports/site/cells.py", r"\{md\.escape\(t\)\}", "{t}", ("test_site.py",)),
    Mutant("drill-down pages not autoescaped", "reports/site/pages/drilldown.py", r"autoescape=True", "autoescape=False", ("test_site.py",)),
]


def checkout(rev: str | None, scratch: Path) -> Path:
    """A scratch copy of the code: the working tree as it is, or a git revision."""
    target = scratch / "code"
    if rev is None:
        ignore = shutil.ignore_patterns(".git", ".venv", "results", "__pycache__", ".benchmarks", "build", "*.egg-info")
        shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    else:
        subprocess.run(["git", "worktree", "add", "--detach", str(target), rev], cwd=ROOT, check=True, capture_output=True)
    return target


def find_tests(code: Path, names: tuple[str, ...]) -> list[str]:
    return sorted(str(p) for name in names for p in (code / "tests").rglob(name))


def run_mutant(code: Path, mutant: Mutant, timeout: float) -> tuple[str, float]:
    path = code / mutant.path
    if not path.is_file():
        return "not applicable (no such file)", 0.0
    original = path.read_text()
    mutated, count = re.subn(mutant.pattern, mutant.replacement, original)
    if count != mutant.matches:
        return f"not applicable (pattern matched {count} times, expected {mutant.matches})", 0.0
    tests = find_tests(code, mutant.tests)
    if not tests:
        return "not applicable (no such tests)", 0.0
    path.write_text(mutated)
    env = {**os.environ, "PYTHONPATH": str(code)}
    # the scratch copy has no ../shared beside it: point the calibration tests at the real folder,
    # as CI does, or they skip and every metric-constant mutant "survives"
    calibration = ROOT.parent / "shared" / "calibration"
    if "RESTOREBENCH_CALIBRATION_DIR" not in env and calibration.is_dir():
        env["RESTOREBENCH_CALIBRATION_DIR"] = str(calibration)
    start = time.monotonic()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not perf", *tests],
                                cwd=code, env=env, capture_output=True, text=True, timeout=timeout)
        verdict = "killed" if result.returncode != 0 else "SURVIVED"
    except subprocess.TimeoutExpired:
        verdict = "killed (timeout)"
    finally:
        path.write_text(original)
    return verdict, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default=None, help="a git revision to test instead of the working tree")
    parser.add_argument("--only", default="", help="run the mutants whose name contains this text")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per mutant")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.only in m.name]
    scratch = Path(tempfile.mkdtemp(prefix="restorebench-mutants-"))
    code = checkout(args.rev, scratch)
    counts: dict[str, int] = {}
    try:
        for mutant in chosen:
            verdict, seconds = run_mutant(code, mutant, args.timeout)
            key = verdict.split(" ")[0]
            counts[key] = counts.get(key, 0) + 1
            print(f"{verdict:<40} {seconds:6.0f} s  {mutant.name}  ({mutant.path})", flush=True)
    finally:
        if args.rev is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(code)], cwd=ROOT, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" of {len(chosen)} mutants")
    return min(counts.get("SURVIVED", 0), 100)


if __name__ == "__main__":
    sys.exit(main())
