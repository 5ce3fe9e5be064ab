"""The fault-injection campaign, part 3: a property-based fuzz of the spec loader.

Whatever bytes a spec file holds, loading it gives a valid spec or a `SpecError` listing
`file:line: field: problem` lines — never another exception, and never unbounded memory.
`RESTOREBENCH_FUZZ_EXAMPLES` sets the number of examples (CI: 300)."""
from __future__ import annotations

import os
import resource
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restorebench.bench.spec import SpecError, load_spec

EXAMPLES = int(os.environ.get("RESTOREBENCH_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

VALID = {
    "name": "fuzz",
    "seed": 0,
    "workers": 1,
    "datasets": [{"name": "b", "kind": "lr_sets", "source": "builtin", "sets": ["page-x2-iso"], "limit": 1}],
    "methods": [{"name": "bicubic"}, {"name": "wiener", "balance": [0.01, 0.05]}],
    "metrics": ["psnr", {"name": "psnr_y", "crop_border": 2}],
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["builtin", "lr_sets", "blur_triplets", "bicubic", "dan", "niqe", "../..", "\x00", "é" * 5]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def paths_of(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths_of(child, prefix + (i,))


@st.composite
def mutated_specs(draw) -> str:
    """A valid spec with a few values replaced by arbitrary ones (dumped as YAML)."""
    import copy

    spec = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from([p for p in paths_of(spec) if p]))
        parent = spec
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = draw(values)
    return yaml.safe_dump(spec, allow_unicode=True)


yaml_alphabet = string.ascii_letters + string.digits + " :-[]{},&*!|>'\"#\n\t%@`?" + "é\u2028\x00"
raw_texts = st.one_of(
    st.text(alphabet=yaml_alphabet, max_size=300),
    st.builds(lambda a, b: a + b, st.just(yaml.safe_dump(VALID)), st.text(alphabet=yaml_alphabet, max_size=80)),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


def alias_bombs(depth: int, width: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def load_or_error(path: Path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        load_spec(path)
    except SpecError as error:
        assert error.problems and all(p.startswith(str(path)) for p in error.problems), error.problems


@FUZZ
@given(text=mutated_specs())
def test_a_mutated_spec_loads_or_says_why(tmp_path, text):
    load_or_error(tmp_path / "spec.yaml", text)


@FUZZ
@given(text=raw_texts)
def test_arbitrary_text_loads_or_says_why(tmp_path, text):
    load_or_error(tmp_path / "spec.yaml", text)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(2, 12), width=st.integers(2, 12))
def test_alias_bombs_are_refused_in_bounded_memory(tmp_path, depth, width):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load_or_error(tmp_path / "bomb.yaml", alias_bombs(depth, width) + "name: x\n")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"loading an alias bomb ({width}^{depth}) grew the process by {grown_mb:.0f} MB"


@pytest.mark.parametrize("text", [b"\xff\xfe", b"", b"---\n...\n", b"- a\n- b\n", b"name: x\n" * 3, b"[[[[[[[[[["])
def test_odd_files_are_spec_errors(tmp_path, text):
    with pytest.raises(SpecError):
        load_spec(_write(tmp_path / "odd.yaml", text))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
