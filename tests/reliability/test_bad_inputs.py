"""The fault-injection campaign, part 2: every bad input of the campaign as a case.

Each case builds one hostile input next to a database that already holds a finished run, runs the
command line, and asserts three things: the exit code, a message that names the problem (and the
file), and that nothing already stored was lost. No case may print a traceback.
"""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pytest
from PIL import Image

from restorebench.bench.runner import RunOptions, run
from restorebench.bench.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "restorebench.bench.cli"]


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width×height`` (a decompression bomb) with a tiny body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


@dataclass
class World:
    root: Path
    db: Path
    out: Path
    lr: Path  # a folder of LR sets: lr/<domain>/<set>/

    def spec(self, body: str, name: str = "spec.yaml") -> Path:
        path = self.root / name
        path.write_text(body)
        return path

    def lr_spec(self, *, methods: str = "[{name: identity}]", metrics: str = "[sharpness]", extra: str = "", dataset: str = "") -> Path:
        return self.spec(f"""
name: hostile
workers: 1
timeout: 20
{extra}
datasets: [{{name: toy, kind: lr_sets, root: {self.lr}{dataset}}}]
methods: {methods}
metrics: {metrics}
""")

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], cwd=self.root, capture_output=True, text=True, timeout=600)

    def run_cli(self, spec: Path, *extra: str) -> subprocess.CompletedProcess:
        return self.cli("run", str(spec), "--db", str(self.db), "--out", str(self.out), "--no-progress", *extra)

    def stored(self) -> int:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute("SELECT count(*) FROM scores WHERE status = 'ok'").fetchall()[0][0]


@pytest.fixture
def world(tmp_path) -> World:
    """A database with one finished run (the rows every case must leave intact)."""
    lr = tmp_path / "lr"
    rng = np.random.default_rng(0)
    for i in range(2):
        hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        save(lr / "good" / "set" / "HR" / f"{i}.png", hr)
        save(lr / "good" / "set" / f"{i}.png", hr[::2, ::2])
    w = World(tmp_path, tmp_path / "db.duckdb", tmp_path / "out", lr)
    run(load_spec(w.lr_spec()), RunOptions(db=w.db, out_dir=w.out, workers=0, progress=False))
    assert w.stored() == 2
    return w


def bad_set(w: World, name: str = "bad") -> Path:
    folder = w.lr / "hostile" / name
    folder.mkdir(parents=True)
    return folder


# -- each case: (make the input and run) -> (expected exit code, words of the message) -----------------

def corrupt_png(w):
    (bad_set(w) / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return w.run_cli(w.lr_spec(dataset=", scale: 2")), 1, ["x.png", "not an image file"]


def truncated_png(w):
    source = save(w.root / "full.png", np.full((16, 16, 3), 90, np.uint8))
    (bad_set(w) / "t.png").write_bytes(source.read_bytes()[:-30])
    return w.run_cli(w.lr_spec(dataset=", scale: 2")), 1, ["t.png", "corrupt or truncated"]


def zero_byte_first_image_without_scale(w):
    folder = bad_set(w)
    (folder / "HR").mkdir()
    (folder / "a.png").write_bytes(b"")
    (folder / "HR" / "a.png").write_bytes(b"")
    save(folder / "b.png", np.zeros((8, 8, 3), np.uint8))
    save(folder / "HR" / "b.png", np.zeros((16, 16, 3), np.uint8))
    # the SR factor comes from the second pair; the empty file is its own invalid case
    return w.run_cli(w.lr_spec()), 1, ["a.png", "not an image"]


def bomb_as_first_image_without_scale(w):
    folder = bad_set(w)
    (folder / "HR").mkdir()
    png_header_only(folder / "a.png", 20000, 20000)
    png_header_only(folder / "HR" / "a.png", 40000, 40000)
    return w.run_cli(w.lr_spec()), 1, ["cannot tell the SR factor", "scale: N"]


def decompression_bomb(w):
    png_header_only(bad_set(w) / "bomb.png", 20000, 20000)
    return w.run_cli(w.lr_spec(dataset=", scale: 2")), 1, ["bomb.png", "decompression bomb"]


def symlink_loop(w):
    folder = bad_set(w)
    (folder / "loop.png").symlink_to(folder / "loop.png")
    return w.run_cli(w.lr_spec(dataset=", scale: 2")), 1, ["loop.png", "not readable"]


def degradation_json_not_json(w):
    folder = bad_set(w)
    save(folder / "a.png", np.zeros((8, 8, 3), np.uint8))
    (folder / "degradation.json").write_text("{scale: 2")
    return w.run_cli(w.lr_spec()), 1, ["degradation.json", "not a readable JSON"]


def degradation_json_scale_two(w):
    folder = bad_set(w)
    save(folder / "a.png", np.zeros((8, 8, 3), np.uint8))
    (folder / "degradation.json").write_text('{"scale": "two"}')
    return w.run_cli(w.lr_spec()), 1, ["degradation.json", "must be an integer"]


def grayscale_rgba_and_16_bit(w):
    folder = bad_set(w)
    rng = np.random.default_rng(1)
    save(folder / "gray.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
    save(folder / "rgba.png", rng.integers(0, 256, (16, 16, 4), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 65536, (16, 16), dtype=np.uint16)).save(folder / "deep.png")
    return w.run_cli(w.lr_spec(dataset=", scale: 2")), 0, ["3 run (3 ok)"]  # converted, all scored


def image_too_small_for_the_metric(w):
    save(bad_set(w) / "tiny.png", np.zeros((6, 6, 3), np.uint8))
    return w.run_cli(w.lr_spec(metrics="[brisque]", dataset=", scale: 2")), 1, ["score(s) failed", "tiny", "needs at least 16×16 pixels"]


def reference_of_another_size(w):
    folder = bad_set(w)
    save(folder / "a.png", np.zeros((8, 8, 3), np.uint8))
    save(folder / "HR" / "a.png", np.zeros((20, 20, 3), np.uint8))
    return w.run_cli(w.lr_spec(metrics="[psnr]", dataset=", scale: 2")), 1, ["score(s) failed", "differ in size"]


def nan_method(w):
    return w.run_cli(w.lr_spec(methods="[{name: test_nan}]")), 1, ["2 failed", "case(s) failed", "NaN/inf values"]


def crashing_and_hanging_methods(w):
    spec = w.lr_spec(methods="[{name: test_crash}, {name: test_hang}]", extra="timeout: 6")
    return w.run_cli(spec, "--timeout", "6"), 1, ["2 crashed", "2 timeout"]


def foreign_duckdb_file(w):
    foreign = w.root / "theirs.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("CREATE TABLE cases (id INTEGER, note VARCHAR)")
    result = w.cli("run", str(w.lr_spec()), "--db", str(foreign), "--out", str(w.out), "--no-progress")
    with duckdb.connect(str(foreign), read_only=True) as con:
        columns = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'cases'").fetchall()[0][0]
    assert columns == 2  # untouched
    return result, 2, ["did not create", "refusing to change it"]


def not_a_database(w):
    text = w.root / "notes.txt"
    text.write_text("my notes\n")
    result = w.cli("run", str(w.lr_spec()), "--db", str(text), "--out", str(w.out), "--no-progress")
    assert text.read_text() == "my notes\n"
    return result, 2, ["notes.txt"]


def out_is_a_file(w):
    blocker = w.root / "blocker"
    blocker.write_text("x")
    spec = w.lr_spec(methods="[{name: bicubic}]")
    result = w.cli("run", str(spec), "--db", str(w.db), "--out", str(blocker), "--no-progress")
    return result, 2, ["cannot write outputs", "--out"]


def spec_not_utf8(w):
    path = w.root / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    return w.run_cli(path), 2, ["latin1.yaml:1", "not UTF-8"]


def spec_alias_bomb(w):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 9)]
    return w.run_cli(w.spec("\n".join(lines) + "\n", "bomb.yaml")), 2, ["bomb.yaml:1", "expands to more than"]


def spec_recursive_alias(w):
    return w.run_cli(w.spec("name: &a [*a]\n", "loop.yaml")), 2, ["loop.yaml", "recursive"]


def spec_too_large(w):
    return w.run_cli(w.spec("# " + "x" * (2 << 20) + "\nname: big\n", "big.yaml")), 2, ["big.yaml", "at most 1,048,576 bytes"]


def spec_huge_grid(w):
    values = ", ".join(str(v / 1000) for v in range(1, 1001))
    spec = w.spec(f"""
name: grid
datasets: [{{name: b, kind: blur_triplets, source: builtin}}]
methods: [{{name: wiener, balance: [{values}], sigma: [{values}]}}]
metrics: [psnr]
""", "grid.yaml")
    return w.run_cli(spec), 2, ["grid.yaml:4: methods[0]: the grid makes 1,000,000 variants", "at most 10,000 method variants"]


def spec_too_many_cases(w):
    spec = w.lr_spec(methods="[{name: identity}]", extra="seeds: [" + ", ".join(map(str, range(200))) + "]")
    return w.run_cli(spec, "--max-cases", "100"), 2, ["more than 100 cases", "--max-cases"]


def spec_unknown_names_and_type_errors_together(w):
    spec = w.spec("""
name: typos
workers: many
datasets: [{name: b, kind: lr_sets, source: builtin}]
methods: [{name: lanczoz}]
metrics: [psnrr]
""", "typos.yaml")
    return w.run_cli(spec), 2, ["typos.yaml:3: workers", "typos.yaml:5: methods[0].name: unknown method 'lanczoz'. Did you mean 'lanczos'?", "psnrr"]


def spec_seed_overflow(w):
    return w.run_cli(w.lr_spec(extra="seeds: [0, 3000000000]")), 2, ["seeds[1]", "2147483647"]


def spec_empty_grid_and_wrong_restriction(w):
    spec = w.spec(f"""
name: empty
datasets: [{{name: toy, kind: lr_sets, root: {w.lr}}}, {{name: tri, kind: blur_triplets, source: builtin}}]
methods: [{{name: wiener, balance: []}}, {{name: dan, datasets: [tri]}}]
metrics: [psnr]
""", "empty.yaml")
    return w.run_cli(spec), 2, ["empty.yaml:4: methods[0].balance: an empty list", "empty.yaml:4: methods[1].datasets", "would never run"]


def score_bomb_among_good_images(w):
    good = save(w.root / "good.png", np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    bomb = png_header_only(w.root / "bomb.png", 20000, 20000)
    result = w.cli("score", "--metric", "sharpness", str(bomb), str(good))
    assert "good.png\t" in result.stdout  # the other image is still scored
    return result, 1, ["bomb.png", "decompression bomb"]


def score_bad_option(w):
    good = save(w.root / "good.png", np.zeros((32, 32, 3), np.uint8))
    return w.cli("score", "--metric", "psnr_y", "--ref", str(good), "--option", "k=[", str(good)), 2, ["--option k=[", "not valid YAML"]


def score_json_with_infinity(w):
    good = save(w.root / "good.png", np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    result = w.cli("score", "--metric", "psnr", "--ref", str(good), "--json", str(good))
    import json

    assert json.loads(result.stdout)[0]["value"] == "inf"  # valid JSON, no Infinity token
    return result, 0, []


CASES: list[Callable] = [
    corrupt_png, truncated_png, zero_byte_first_image_without_scale, bomb_as_first_image_without_scale, decompression_bomb,
    symlink_loop, degradation_json_not_json, degradation_json_scale_two, grayscale_rgba_and_16_bit,
    image_too_small_for_the_metric, reference_of_another_size, nan_method, crashing_and_hanging_methods,
    foreign_duckdb_file, not_a_database, out_is_a_file, spec_not_utf8, spec_alias_bomb, spec_recursive_alias,
    spec_too_large, spec_huge_grid, spec_too_many_cases, spec_unknown_names_and_type_errors_together, spec_seed_overflow,
    spec_empty_grid_and_wrong_restriction, score_bomb_among_good_images, score_bad_option, score_json_with_infinity,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_a_hostile_input_gets_a_clear_message_and_loses_nothing(world, case):
    result, code, words = case(world)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == code, output
    for word in words:
        assert word in output, (word, output)
    assert world.stored() >= 2  # the finished run's scores are all still there
