"""Benchmark specs: YAML → validated, typed models → expanded method variants.

Every problem is reported as ``file:line: field: what was expected`` (all problems at once),
never as a traceback. A list value of a method parameter is a grid: one variant per value
(several lists give their product), unless the parameter itself takes a list.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from restorebench.bench.chains import ChainSpec, Stage, chain_code_version, stage_method_params
from restorebench.metrics.component import ParameterError
from restorebench.metrics.errors import RestoreBenchError, UnknownNameError
from restorebench.metrics.registry import did_you_mean
from restorebench.metrics.weights import fingerprint as weights_fingerprint

HARNESS_KEYS = ("name", "label", "samples", "inputs", "datasets")
# Seeds are stored in an INTEGER column and seed numpy/torch generators: validated here, so that a
# value the database cannot hold is a spec error before anything runs, not a lost batch after.
MAX_SEED = 2**31 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class SpecError(RestoreBenchError):
    """An invalid spec; ``problems`` holds one ``file:line: field: message`` string each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid spec:\n  " + "\n  ".join(problems))


# -- models -------------------------------------------------------------------------------------

class DatasetSpec(BaseModel):
    """One dataset: a builtin one, or a folder in one of the supported layouts."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    kind: Literal["blur_triplets", "lr_sets"]
    source: Literal["builtin", "builtin-x8"] | None = Field(
        None, description="generated data: 'builtin' (triplets, 14 LR sets at ×2/×4) or 'builtin-x8' (5 LR sets at ×8)"
    )
    root: str | None = None
    size: int | None = Field(None, ge=8, description="blur_triplets: resize images to size×size")
    limit: int | None = Field(None, ge=1, description="at most this many items (per set for lr_sets)")
    ids: list[str] | None = None
    sets: list[str] | None = Field(None, description="lr_sets: only these sets ('set' or 'domain/set')")
    scale: int | None = Field(None, ge=1, le=16, description="lr_sets: SR factor when there is no HR")
    align: Literal["none", "phase"] = Field(
        "none", description="register the output to the reference before full-reference metrics"
    )
    resize: Literal["matlab", "study"] = Field(
        "matlab",
        description="blur_triplets with size: matlab = MATLAB bicubic for every image; study = the SinGAN "
        "study's resizers (blurred and training photo: Pillow LANCZOS, saved as JPEG; reference: OpenCV INTER_AREA)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetSpec":
        if (self.source is None) == (self.root is None):
            raise ValueError("give exactly one of 'source: builtin' or 'root: <folder>'")
        if self.source == "builtin-x8" and self.kind != "lr_sets":
            raise ValueError("'source: builtin-x8' holds LR sets only: use it with 'kind: lr_sets'")
        return self


class MethodSpec(BaseModel):
    """A method with its parameters; extra keys are the method's own parameters."""

    model_config = ConfigDict(extra="allow")
    name: str
    label: str | None = None
    samples: int = Field(1, ge=1, le=10_000)
    inputs: list[Literal["motion", "defocus"]] | None = None
    datasets: list[str] | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _entry_kind(value: Any) -> str:
    """Which model validates a ``methods`` entry: a chain (it has ``chain``) or a method."""
    if isinstance(value, dict):
        return "chain-entry" if "chain" in value else "method-entry"
    return "chain-entry" if isinstance(value, ChainSpec) else "method-entry"


MethodEntry = Annotated[
    Annotated[MethodSpec, Tag("method-entry")] | Annotated[ChainSpec, Tag("chain-entry")],
    Discriminator(_entry_kind),
]


class MetricSpec(BaseModel):
    """A metric with its options; ``label`` names it in the results when the same metric is
    listed twice with different options (``{name: niqe, variant: skvideo, label: niqe-skvideo}``)."""

    model_config = ConfigDict(extra="allow")
    name: str
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

    @property
    def key(self) -> str:
        """The name its scores are stored under."""
        return self.label or self.name

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    seed: Seed = 0
    seeds: list[Seed] | None = Field(None, min_length=1, description="several seeds: every case once per seed")
    timeout: float = Field(600.0, gt=0, description="seconds a case may take before it is stopped")
    prepare_timeout: float = Field(
        14_400.0, gt=0, description="seconds a shared preparation (training once for several cases, e.g. SinGAN) may take"
    )
    workers: int = Field(1, ge=0, le=64, description="worker processes (0 = run in this process)")
    executor: Literal["local", "ray"] = Field(
        "local", description="local: worker processes on this machine; ray: a Ray cluster (`restorebench run --address`)"
    )
    device: str = "auto"
    datasets: list[DatasetSpec] = Field(min_length=1)
    methods: list[MethodEntry] = Field(min_length=1)
    metrics: list[MetricSpec] = Field(min_length=1)
    primary_metric: str | None = Field(None, description="the metric that orders the overall leaderboard (default: the first listed)")

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @property
    def all_seeds(self) -> list[int]:
        return self.seeds if self.seeds else [self.seed]


@dataclass(frozen=True)
class Variant:
    """One concrete method configuration (a point of the method's parameter grid)."""

    name: str
    label: str
    params: dict[str, Any]
    samples: int
    inputs: tuple[str, ...] | None
    datasets: tuple[str, ...] | None
    code_version: str
    tasks: frozenset[str]
    weights: tuple[tuple[str, str | None], ...] = ()  # (catalogue key, sha256 of the file or None: missing)
    summary: str = ""
    sr_scales: frozenset[int] | None = None  # None: any factor
    shared_preparation: str | None = None  # see Method.shared_preparation
    set_level: bool = False  # trains on whole sets and generates samples (models/setlevel.py)
    stages: tuple[Stage, ...] = ()  # a chain's stages (bench.chains); empty for a single method

    @property
    def variant_id(self) -> str:
        weights = ",".join(f"{k}={v}" for k, v in self.weights)
        return hashlib.sha256(f"{self.name}|{self.label}|{self.code_version}|{weights}".encode()).hexdigest()[:16]


@dataclass
class LoadedSpec:
    spec: Spec
    path: Path
    text: str
    sha256: str
    variants: list[Variant] = field(default_factory=list)


# -- YAML with line numbers -------------------------------------------------------------------

def _line_map(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every key path (tuple of keys/indices) to its 1-based line in the file."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _line_map(child, path + (i,), out)
    return out


def _line_for(lines: dict[tuple, int], loc: tuple) -> int:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return 1


def _field_name(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "literal_error":
        return f"expected {error['ctx']['expected']}, got {error.get('input')!r}"
    return str(error["msg"]).removeprefix("Value error, ")


def _clean_loc(loc: tuple) -> tuple:
    # pydantic puts union/tag names into locations ('function-after[...]', 'str', the method entry
    # tags); drop them
    return tuple(p for p in loc if isinstance(p, int) or not (
        str(p).startswith("function-") or p in ("str", "int", "list[str]", "method-entry", "chain-entry")))


# -- loading -------------------------------------------------------------------------------------

#: Limits that keep a hostile or mistaken spec from exhausting memory or time while loading.
MAX_SPEC_BYTES = 1 << 20
MAX_SPEC_NODES = 100_000  # YAML nodes after alias expansion
MAX_VARIANTS = 10_000  # method variants after grid expansion


def _expanded_size(node: yaml.Node, path: Path) -> int:
    """Number of nodes the document has once its aliases are expanded, without expanding them
    (a shared node is counted once per use, with memoisation). Raises on a recursive alias."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise SpecError([f"{path}:{n.start_mark.line + 1}: (yaml): an alias refers to a node that contains it (a recursive structure)"])
        active.add(key)
        if isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(c) for c in n.value)
        else:
            total = 1
        active.discard(key)
        sizes[key] = min(total, MAX_SPEC_NODES + 1)
        return sizes[key]

    return size(node)


def _read_yaml(path: Path) -> tuple[str, yaml.Node, Any]:
    """The spec's text, node tree (for line numbers) and data, each bounded in size."""
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError([f"{path}: the spec is {size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,} bytes"])
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError([f"{path}: cannot read spec ({exc.strerror or exc})"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError([f"{path}:{line}: (encoding): byte 0x{raw[exc.start]:02x} is not UTF-8; save the spec as UTF-8"]) from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise SpecError([f"{path}:1: (top level): the spec is empty"])
            nodes = _expanded_size(node, path)
            if nodes > MAX_SPEC_NODES:
                raise SpecError([f"{path}:1: (yaml): the spec expands to more than {MAX_SPEC_NODES:,} values "
                                 f"(through its aliases); a spec may hold at most {MAX_SPEC_NODES:,}"])
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SpecError([f"{path}:{line}: (yaml): {getattr(exc, 'problem', None) or exc}"]) from None
    return text, node, data


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, validate and expand a spec file; raise :class:`SpecError` listing every problem."""
    path = Path(path)
    text, node, data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError([f"{path}:1: (top level): expected a mapping with name, datasets, methods, metrics"])
    lines = _line_map(node)

    def problem(loc: tuple, message: str) -> str:
        return f"{path}:{_line_for(lines, loc)}: {_field_name(loc)}: {message}"

    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        # report unknown method and metric names together with the type errors, not after them
        problems = [problem(_clean_loc(e["loc"]), _describe(e)) for e in exc.errors()]
        raise SpecError(problems + _unknown_names(data, problem)) from None

    problems: list[str] = []
    variants = _expand_methods(spec, problem, problems)
    _check_metrics(spec, problem, problems)
    _check_datasets(spec, problem, problems)
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec=spec, path=path, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), variants=variants)


def _unknown_names(data: dict[str, Any], problem) -> list[str]:
    """Unknown method and metric names in raw spec data (best effort, for a spec that failed
    validation elsewhere)."""
    from restorebench import metrics, models

    found = []
    for section, registry in (("methods", models.REGISTRY), ("metrics", metrics.REGISTRY)):
        entries = data.get(section)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            named = [((section, i, "name") if isinstance(entry, dict) else (section, i),
                      entry if isinstance(entry, str) else entry.get("name") if isinstance(entry, dict) else None)]
            if section == "methods" and isinstance(entry, dict) and isinstance(entry.get("chain"), list):
                named = [((section, i, "chain", j, "name"), stage.get("name"))
                         for j, stage in enumerate(entry["chain"]) if isinstance(stage, dict)]
            for loc, name in named:
                if isinstance(name, str) and name not in registry:
                    found.append(problem(loc, f"unknown {section[:-1]} '{name}'.{did_you_mean(name, registry.names())}"))
    return found


def _takes_list(annotation: Any) -> bool:
    origins = {typing.get_origin(annotation)}
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        origins = {typing.get_origin(a) for a in typing.get_args(annotation)}
    return bool(origins & {list, tuple, set})


def _expand_methods(spec: Spec, problem, problems: list[str]) -> list[Variant]:
    from restorebench import models

    variants: list[Variant] = []
    seen: dict[str, int] = {}
    for i, method_spec in enumerate(spec.methods):
        if isinstance(method_spec, ChainSpec):
            variant = _chain_variant(spec, i, method_spec, problem, problems)
            if variant is None:
                continue
            if variant.label in seen:
                problems.append(problem(("methods", i), f"duplicate method variant '{variant.label}' (also at methods[{seen[variant.label]}]); give a distinct label"))
                continue
            seen[variant.label] = i
            variants.append(variant)
            continue
        try:
            cls = models.method_class(method_spec.name)
        except UnknownNameError as exc:
            problems.append(problem(("methods", i, "name"), str(exc)))
            continue
        tasks = {dataset_task(d.kind) for d in spec.datasets}
        if not cls.tasks & tasks:
            problems.append(problem(
                ("methods", i, "name"),
                f"method '{cls.name}' does {'/'.join(sorted(cls.tasks))} but no dataset in the spec has that task",
            ))
            continue
        params = method_spec.params
        fields = cls.Params.model_fields
        grid_keys = [k for k, v in params.items() if isinstance(v, list) and not (k in fields and _takes_list(fields[k].annotation))]
        empty = [k for k in grid_keys if not params[k]]
        if empty:
            problems += [problem(("methods", i, k), "an empty list: a grid needs at least one value") for k in empty]
            continue
        points = math.prod(len(params[k]) for k in grid_keys)
        if len(variants) + points > MAX_VARIANTS:
            problems.append(problem(("methods", i), f"the grid makes {points:,} variants; a spec may have at most {MAX_VARIANTS:,} method variants"))
            continue
        for values in itertools.product(*(params[k] for k in grid_keys)):
            point = {**params, **dict(zip(grid_keys, values))}
            try:
                method = cls(**point)
            except ParameterError as exc:
                for key, message in exc.problems:
                    problems.append(problem(("methods", i, key) if key in params else ("methods", i), message))
                break
            suffix = ", ".join(f"{k}={v}" for k, v in zip(grid_keys, values))
            label = method_spec.label or cls.name
            if suffix:
                label = f"{label} ({suffix})"
            if label in seen:
                problems.append(problem(("methods", i), f"duplicate method variant '{label}' (also at methods[{seen[label]}]); give a distinct label"))
                continue
            seen[label] = i
            variants.append(
                Variant(
                    name=cls.name,
                    label=label,
                    params=method.params_dict,
                    samples=method.samples_per_set if getattr(cls, "set_level", False) else method_spec.samples if cls.stochastic else 1,
                    inputs=tuple(method_spec.inputs) if method_spec.inputs else None,
                    datasets=tuple(method_spec.datasets) if method_spec.datasets else None,
                    code_version=method.code_version,
                    tasks=cls.tasks,
                    weights=tuple(weights_fingerprint(method.weight_keys()).items()),
                    sr_scales=method.sr_scales(),
                    shared_preparation=cls.shared_preparation,
                    set_level=bool(getattr(cls, "set_level", False)),
                    summary=cls.summary or (cls.__doc__ or "").strip().split("\n")[0],
                )
            )
    return variants


def _chain_variant(spec: Spec, i: int, chain: ChainSpec, problem, problems: list[str]) -> Variant | None:
    """The variant of a chain entry, or None after adding its problems: every stage must be a known
    SR method that accepts its parameters and can do its factor."""
    from restorebench import models

    before = len(problems)
    if "sr" not in {dataset_task(d.kind) for d in spec.datasets}:
        problems.append(problem(("methods", i, "chain"), "a chain does super-resolution but no dataset in the spec has that task"))
    stages: list[Stage] = []
    weight_keys: dict[str, None] = {}
    for j, stage_spec in enumerate(chain.chain):
        where = ("methods", i, "chain", j)
        title = f"stage {j + 1} ({stage_spec.name} ×{stage_spec.scale})"
        try:
            cls = models.method_class(stage_spec.name)
        except UnknownNameError as exc:
            problems.append(problem(where + ("name",), str(exc)))
            continue
        if "sr" not in cls.tasks:
            problems.append(problem(where + ("name",), f"{title}: method '{cls.name}' does {'/'.join(sorted(cls.tasks))}; a chain stage must do sr"))
            continue
        if cls.shared_preparation is not None:
            problems.append(problem(where + ("name",), f"{title}: method '{cls.name}' trains once for several cases, which a chain stage cannot"))
            continue
        fields = cls.Params.model_fields
        grids = [k for k, v in stage_spec.params.items() if isinstance(v, list) and not (k in fields and _takes_list(fields[k].annotation))]
        if grids:
            problems += [problem(where + (k,), f"{title}: a list of values (a grid) is not possible inside a chain; write one chain per configuration") for k in grids]
            continue
        try:
            method = cls(**stage_method_params(cls, stage_spec))
        except ParameterError as exc:
            for key, message in exc.problems:
                problems.append(problem(where + (key,) if key in stage_spec.params or key == "scale" else where, f"{title}: {message}"))
            continue
        can = method.sr_scales()
        if can is not None and stage_spec.scale not in can:
            does = f"does {', '.join(f'×{s}' for s in sorted(can))} only, not" if can else "cannot do"
            problems.append(problem(where + ("scale",), f"{title}: '{cls.name}' with these parameters {does} ×{stage_spec.scale}; "
                                    f"make the factor from stages it can do (e.g. ×8 = ×2 ×2 ×2)"))
            continue
        stages.append(Stage(name=cls.name, scale=stage_spec.scale, params=method.params_dict,
                            code_version=method.code_version, stochastic=cls.stochastic))
        weight_keys.update(dict.fromkeys(method.weight_keys()))
    if len(problems) > before:
        return None
    stochastic = any(stage.stochastic for stage in stages)
    return Variant(
        name="chain",
        label=chain.label or chain.default_label,
        params={"stages": [stage.record() for stage in stages]},
        samples=chain.samples if stochastic else 1,
        inputs=None,
        datasets=tuple(chain.datasets) if chain.datasets else None,
        code_version=chain_code_version(tuple(stages)),
        tasks=frozenset({"sr"}),
        weights=tuple(weights_fingerprint(tuple(weight_keys)).items()),
        summary=" → ".join(stage.title for stage in stages),
        sr_scales=frozenset({chain.factor}),
        stages=tuple(stages),
    )


def _check_metrics(spec: Spec, problem, problems: list[str]) -> None:
    from restorebench import metrics

    keys = [m.key for m in spec.metrics]
    for i, metric_spec in enumerate(spec.metrics):
        if keys.index(metric_spec.key) != i:
            hint = "" if metric_spec.label else "; give one of them a `label` to keep both"
            problems.append(problem(("metrics", i), f"metric '{metric_spec.key}' is listed twice{hint}"))
            continue
        try:
            metrics.get(metric_spec.name, **metric_spec.options)
        except UnknownNameError as exc:
            problems.append(problem(("metrics", i), str(exc)))
        except ParameterError as exc:
            for key, message in exc.problems:
                problems.append(problem(("metrics", i, key) if key in metric_spec.options else ("metrics", i), message))


def _check_datasets(spec: Spec, problem, problems: list[str]) -> None:
    names = [d.name for d in spec.datasets]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append(problem(("datasets", i, "name"), f"dataset name '{name}' is used twice"))
    for i, dataset in enumerate(spec.datasets):
        root = Path(dataset.root).expanduser() if dataset.root is not None else None
        if root is not None and not root.is_dir():  # relative to the working folder, as the loader reads it
            problems.append(problem(("datasets", i, "root"), f"folder {root} does not exist" + (
                " (a relative root is read from the working folder)" if not root.is_absolute() else "")))
    kinds = {d.name: dataset_task(d.kind) for d in spec.datasets}
    for i, method_spec in enumerate(spec.methods):
        for j, dataset in enumerate(method_spec.datasets or []):
            if dataset not in names:
                problems.append(problem(("methods", i, "datasets", j), f"no dataset named '{dataset}' in this spec"))
        restricted = [kinds[d] for d in method_spec.datasets or [] if d in kinds]
        if isinstance(method_spec, ChainSpec):
            what, tasks = "a chain", {"sr"}
        elif method_spec.name in models_registry():
            what, tasks = f"method '{method_spec.name}'", models_registry().get(method_spec.name).tasks
        else:
            continue
        if restricted and not tasks & set(restricted):
            problems.append(problem(("methods", i, "datasets"), f"{what} does {'/'.join(sorted(tasks))}, "
                                    f"but the datasets it is restricted to are {'/'.join(sorted(set(restricted)))}: it would never run"))
    names_and_labels = {m.name for m in spec.metrics} | {getattr(m, "label", None) for m in spec.metrics}
    if spec.primary_metric is not None and spec.primary_metric not in names_and_labels:
        problems.append(problem(("primary_metric",), f"'{spec.primary_metric}' is not one of the spec's metrics"))
    if spec.seeds is not None and len(set(spec.seeds)) != len(spec.seeds):
        problems.append(problem(("seeds",), "a seed is listed twice"))


def models_registry():
    from restorebench import models

    return models.REGISTRY


def dataset_task(kind: str) -> str:
    return {"blur_triplets": "deblur", "lr_sets": "sr"}[kind]


def variant_record(variant: Variant) -> dict[str, Any]:
    """Row of the ``methods`` table for a variant."""
    return {
        "variant_id": variant.variant_id,
        "name": variant.name,
        "label": variant.label,
        "params": variant.params,
        "code_version": variant.code_version,
        "weights": dict(variant.weights),
        "summary": variant.summary,
        "set_level": variant.set_level,
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
