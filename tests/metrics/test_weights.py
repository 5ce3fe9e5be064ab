"""The weights manager end to end in a temporary folder: catalogue discovery, add (with the
sha256 record), verify (a tampered file fails with a clear message), path, fetch (file:// URL,
no network, page URLs), name matching for files that share a name, and the CLI.

Only small stand-in files are used; no network access happens (the "unreachable" URL is a
closed local port).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from restorebench.bench.cli import main
from restorebench.metrics import weights
from restorebench.metrics.errors import RestoreBenchError, UnknownNameError, WeightsUnavailableError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Weights folder, HOME and default folder all under tmp_path."""
    folder = tmp_path / "weights"
    monkeypatch.setenv(weights.ENV_VAR, str(folder))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(weights, "DEFAULT_DIR", tmp_path / "home" / ".cache" / "restorebench" / "weights")
    return folder


def entry(monkeypatch, **fields) -> weights.WeightFile:
    wf = weights.WeightFile(**{"url": "https://example.org/files/" + Path(fields["filename"]).name,
                               "component": "test component", **fields})
    monkeypatch.setitem(weights.CATALOGUE, wf.key, wf)
    return wf


def tensor_file_bytes(value: float = 1.0) -> bytes:
    """A real (tiny) checkpoint: a state dict of plain tensors, as torch.save writes it."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.full((2, 2), value)}, buffer)
    return buffer.getvalue()


def dan_checkpoint_bytes(variant: str, seed: int = 0) -> bytes:
    """A random-init DAN in the official file layout (``module.`` prefix)."""
    import io

    import torch

    from restorebench.models.dan.network import CONFIGS, DAN

    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save({f"module.{k}": v for k, v in DAN(CONFIGS[variant]).state_dict().items()}, buffer)
    return buffer.getvalue()


def moesr_ise_bytes() -> bytes:
    import io

    import torch

    from restorebench.models.moesr.network import ISE

    buffer = io.BytesIO()
    torch.save(ISE().state_dict(), buffer)
    return buffer.getvalue()


def make_file(path: Path, content: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tensor_file_bytes() if content is None else content)
    return path


def test_add_records_sha256_and_verify_passes(tmp_path, monkeypatch, isolated):
    entry(monkeypatch, key="t-flat", filename="flat_model.pth")
    source = make_file(tmp_path / "downloads" / "flat_model.pth")
    done = weights.add(source)
    assert done.key == "t-flat" and done.path == isolated / "flat_model.pth"
    assert done.path.read_bytes() == source.read_bytes()
    record = json.loads((isolated / "manifest.json").read_text())["files"]["flat_model.pth"]
    assert record["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["key"] == "t-flat" and record["size"] == source.stat().st_size
    assert weights.status("t-flat")["status"] == "present"
    [verdict] = weights.verify(["t-flat"])
    # nothing was published about this file: it loads, but nothing vouches for its content
    assert verdict.status == "unverified" and "unchanged since it was installed" in verdict.detail
    assert weights.resolve("t-flat") == done.path


def test_a_junk_file_is_refused_and_never_called_ok(tmp_path, monkeypatch, isolated):
    entry(monkeypatch, key="t-flat", filename="flat_model.pth")
    junk = make_file(tmp_path / "flat_model.pth", b"21 bytes of junk here")
    with pytest.raises(weights.UnsafeCheckpointError, match="cannot be loaded as plain tensors") as error:
        weights.add(junk)
    assert "weights_only=False" not in str(error.value)  # never the advice to run pickled code
    make_file(isolated / "flat_model.pth", b"21 bytes of junk here")  # put there by hand
    [verdict] = weights.verify(["t-flat"])
    assert verdict.failed and verdict.status == "unloadable"


def test_tampered_file_fails_verify_status_and_resolve(tmp_path, monkeypatch, isolated):
    entry(monkeypatch, key="t-flat", filename="flat_model.pth")
    done = weights.add(make_file(tmp_path / "flat_model.pth", tensor_file_bytes(1.0)))
    done.path.write_bytes(tensor_file_bytes(2.0))  # same size, different content
    [verdict] = weights.verify(["t-flat"])
    assert verdict.failed and verdict.status == "mismatch"
    assert str(done.path) in verdict.detail
    assert "modified or replaced since" in verdict.detail and "was recorded" in verdict.detail
    assert weights.status("t-flat")["status"] == "hash mismatch"
    with pytest.raises(WeightsUnavailableError, match="modified or replaced"):
        weights.resolve("t-flat")
    done.path.write_bytes(tensor_file_bytes(3.0) + b"tail")
    [verdict] = weights.verify(["t-flat"])
    assert verdict.failed and "bytes" in verdict.detail


def test_known_sha256_and_size_are_enforced_on_add(tmp_path, monkeypatch):
    good = tensor_file_bytes(7.0)
    entry(monkeypatch, key="t-known", filename="known.pth", sha256=hashlib.sha256(good).hexdigest(), size=len(good))
    with pytest.raises(RestoreBenchError, match="not the official file"):
        weights.add(make_file(tmp_path / "a" / "known.pth", tensor_file_bytes(8.0)))
    with pytest.raises(RestoreBenchError, match="bytes"):
        weights.add(make_file(tmp_path / "b" / "known.pth", b"short"))
    assert weights.add(make_file(tmp_path / "c" / "known.pth", good)).key == "t-known"
    [verdict] = weights.verify(["t-known"])
    assert verdict.status == "ok" and "catalogue sha256" in verdict.detail


def test_hub_prefix_is_checked(tmp_path, monkeypatch, isolated):
    content = tensor_file_bytes(9.0)
    prefix = hashlib.sha256(content).hexdigest()[:8]
    entry(monkeypatch, key="t-hub", filename=f"model-{prefix}.pth")
    make_file(isolated / f"model-{prefix}.pth", content)
    [verdict] = weights.verify(["t-hub"])
    assert verdict.status == "ok" and prefix in verdict.detail
    entry(monkeypatch, key="t-hub-bad", filename="other-ae6d356b.pth")
    make_file(isolated / "other-ae6d356b.pth", content)
    [verdict] = weights.verify(["t-hub-bad"])
    assert verdict.failed and "expected ae6d356b" in verdict.detail
    with pytest.raises(WeightsUnavailableError, match="not the official one"):
        weights.resolve("t-hub-bad")


def test_shared_names_are_told_apart_by_folder_or_key(tmp_path, monkeypatch, isolated):
    entry(monkeypatch, key="t-x2-shared", filename="pkg/x2/SHARED.pt")
    entry(monkeypatch, key="t-x4-shared", filename="pkg/x4/SHARED.pt")
    done = weights.add(make_file(tmp_path / "checkpoints" / "x4" / "SHARED.pt", tensor_file_bytes(4.0)))
    assert done.key == "t-x4-shared" and done.path == isolated / "pkg" / "x4" / "SHARED.pt"
    bare = make_file(tmp_path / "bare" / "SHARED.pt", tensor_file_bytes(5.0))
    with pytest.raises(RestoreBenchError, match="--key") as info:
        weights.add(bare)
    assert "t-x2-shared" in str(info.value) and "t-x4-shared" in str(info.value)
    assert weights.add(bare, key="t-x2-shared").path == isolated / "pkg" / "x2" / "SHARED.pt"
    assert {v.key: v.status for v in weights.verify(["t-x2-shared", "t-x4-shared"])} == {"t-x2-shared": "unverified", "t-x4-shared": "unverified"}
    # A missing file with folder parts: the message says exactly where it goes.
    entry(monkeypatch, key="t-x8-shared", filename="pkg/x8/SHARED.pt")
    with pytest.raises(WeightsUnavailableError) as info:
        weights.resolve("t-x8-shared")
    assert str(isolated / "pkg" / "x8" / "SHARED.pt") in str(info.value)


def test_unknown_files_and_keys_are_clear_errors(tmp_path):
    with pytest.raises(RestoreBenchError, match="not the name of a known weights file"):
        weights.add(make_file(tmp_path / "mystery.bin"))
    with pytest.raises(RestoreBenchError, match="no such file"):
        weights.add(tmp_path / "absent.pth")
    with pytest.raises(UnknownNameError, match="unknown weights key"):
        weights.verify(["no-such-key"])


def test_fetch_from_a_file_url_installs_and_records(tmp_path, monkeypatch, isolated):
    served = make_file(tmp_path / "server" / "served.pth", tensor_file_bytes(6.0))
    wf = entry(monkeypatch, key="t-fetch", filename="served.pth")
    monkeypatch.setitem(weights.CATALOGUE, "t-fetch", dataclasses.replace(wf, url=served.as_uri()))
    done = weights.fetch("t-fetch")
    assert done.path == isolated / "served.pth" and done.path.read_bytes() == tensor_file_bytes(6.0)
    assert weights.recorded(weights.CATALOGUE["t-fetch"], done.path)["source"] == served.as_uri()
    assert weights.fetch("t-fetch").path == done.path  # already there: no-op


def test_fetch_fails_fast_without_network_and_for_pages(monkeypatch, isolated):
    entry(monkeypatch, key="t-offline", filename="offline.pth", url="http://127.0.0.1:9/files/offline.pth")
    with pytest.raises(WeightsUnavailableError) as info:
        weights.fetch("t-offline", timeout=2)
    message = str(info.value)
    assert "http://127.0.0.1:9/files/offline.pth" in message and str(isolated / "offline.pth") in message
    assert not list(isolated.glob("*.part")) and not list(isolated.glob(".*.part"))
    entry(monkeypatch, key="t-page", filename="page.pth", url="https://drive.google.com/drive/folders/abc")
    with pytest.raises(WeightsUnavailableError, match="cannot be downloaded automatically") as info:
        weights.fetch("t-page")
    assert "https://drive.google.com/drive/folders/abc" in str(info.value)


def test_cli_end_to_end(tmp_path, isolated, capsys):
    # discovery: the catalogue holds the entries declared by every method and metric module
    assert main(["weights", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    keys = {row["key"] for row in listing["files"]}
    assert {"danv1-x4-setting1", "moesr-x2-experts", "moesr-x4-ise", "blindsr-generator",
            "maniqa-koniq10k", "maniqa-pipal"} <= keys
    assert listing["search_dirs"][0] == str(isolated)
    assert all(row["status"] == "missing" for row in listing["files"])

    # plain tensors, but not DAN's network: refused before it is installed
    junk = make_file(tmp_path / "dl" / "danv1_x4_setting1.pth", tensor_file_bytes(10.0))
    assert main(["weights", "add", str(junk)]) == 2
    assert "not the network" in capsys.readouterr().err and not (isolated / "danv1_x4_setting1.pth").exists()
    source = make_file(tmp_path / "dl2" / "danv1_x4_setting1.pth", dan_checkpoint_bytes("v1-x4-setting1"))
    assert main(["weights", "add", str(source)]) == 0
    assert "danv1-x4-setting1: installed" in capsys.readouterr().out
    assert main(["weights", "path", "danv1-x4-setting1"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated / "danv1_x4_setting1.pth")
    assert main(["weights", "verify"]) == 0
    out = capsys.readouterr().out
    assert "UNVERIFIED" in out and "no published size or hash" in out and "keys and shapes are the network's" in out
    assert "danv1-x4-setting1" in out and "MISSING" not in out

    (isolated / "danv1_x4_setting1.pth").write_bytes(dan_checkpoint_bytes("v1-x4-setting1", seed=1))
    assert main(["weights", "verify"]) == 1
    captured = capsys.readouterr()
    assert "TAMPERED danv1-x4-setting1" in captured.out and "modified or replaced since" in captured.out
    assert "1 file(s) failed verification" in captured.err
    assert main(["weights", "list"]) == 0
    assert "hash mismatch" in capsys.readouterr().out

    assert main(["weights", "path", "danv1-x2-setting1"]) == 2  # missing: one clear line
    err = capsys.readouterr().err
    assert "danv1_x2_setting1.pth" in err and "drive.google.com" in err
    assert main(["weights", "verify", "danv1-x2-setting1"]) == 1  # asked for, missing
    capsys.readouterr()
    assert main(["weights", "fetch", "moesr-x2-ken"]) == 2  # a Drive folder: by hand
    err = capsys.readouterr().err
    assert "cannot be downloaded automatically" in err and str(isolated / "moesr" / "x2" / "KEN.pt") in err
    assert main(["weights", "add", str(make_file(tmp_path / "bare" / "ISE.pt", moesr_ise_bytes()))]) == 2
    assert "--key" in capsys.readouterr().err
    assert main(["weights", "add", str(tmp_path / "bare" / "ISE.pt"), "--key", "moesr-x4-ise"]) == 0
    assert (isolated / "moesr" / "x4" / "ISE.pt").is_file()


def test_console_script_lists_the_catalogue(tmp_path):
    """A fresh process (the installed ``restorebench`` entry point) discovers every declaration."""
    env = {**os.environ, weights.ENV_VAR: str(tmp_path / "w"), "HOME": str(tmp_path / "h")}
    script = Path(sys.executable).with_name("restorebench")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "restorebench.bench.cli"]
    result = subprocess.run([*command, "weights", "list"], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    for key in ("danv2-x4-setting2", "moesr-x4-experts", "blindsr-discriminator", "maniqa-kadid10k"):
        assert key in result.stdout
