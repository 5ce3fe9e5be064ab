"""Benchmark specs: YAML → validated, typed models → expanded method variants.

Every problem is reported as ``file:line: field: what was expected`` (all problems at once),
never as a traceback. A list value of a method parameter is a grid: one variant per value
(several lists give their product), unless the parameter itself takes a list.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from restorebench.metrics.errors import RestoreBenchError, UnknownNameError
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
    source: Literal["builtin"] | None = None
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


class MetricSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str

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
    workers: int = Field(1, ge=0, le=64, description="worker processes (0 = run in this process)")
    device: str = "auto"
    datasets: list[DatasetSpec] = Field(min_length=1)
    methods: list[MethodSpec] = Field(min_length=1)
    metrics: list[MetricSpec] = Field(min_length=1)

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
    # pydantic puts union/tag names into locations ('function-after[...]', 'str'); drop them
    return tuple(p for p in loc if isinstance(p, int) or not (str(p).startswith("function-") or p in ("str", "int", "list[str]")))


# -- loading -------------------------------------------------------------------------------------

def load_spec(path: str | Path) -> LoadedSpec:
    """Read, validate and expand a spec file; raise :class:`SpecError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError([f"{path}: cannot read spec ({exc.strerror or exc})"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SpecError([f"{path}:{line}: (yaml): {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict) or node is None:
        raise SpecError([f"{path}:1: (top level): expected a mapping with name, datasets, methods, metrics"])
    lines = _line_map(node)

    def problem(loc: tuple, message: str) -> str:
        return f"{path}:{_line_for(lines, loc)}: {_field_name(loc)}: {message}"

    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError([problem(_clean_loc(e["loc"]), _describe(e)) for e in exc.errors()]) from None

    problems: list[str] = []
    variants = _expand_methods(spec, problem, problems)
    _check_metrics(spec, problem, problems)
    _check_datasets(spec, problem, problems)
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec=spec, path=path, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), variants=variants)


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
        for values in itertools.product(*(params[k] for k in grid_keys)):
            point = {**params, **dict(zip(grid_keys, values))}
            try:
                method = cls(**point)
            except ValidationError as exc:
                for e in exc.errors():
                    key = e["loc"][0] if e["loc"] else None
                    loc = ("methods", i, key) if key in params else ("methods", i)
                    message = _describe(e)
                    if e["type"] == "extra_forbidden":
                        known = ", ".join(fields) or "none"
                        message = f"'{key}' is not a parameter of method '{cls.name}' (parameters: {known})"
                    problems.append(problem(loc, message))
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
                    samples=method_spec.samples if cls.stochastic else 1,
                    inputs=tuple(method_spec.inputs) if method_spec.inputs else None,
                    datasets=tuple(method_spec.datasets) if method_spec.datasets else None,
                    code_version=method.code_version,
                    tasks=cls.tasks,
                    weights=tuple(weights_fingerprint(method.weight_keys()).items()),
                    sr_scales=method.sr_scales(),
                    summary=cls.summary or (cls.__doc__ or "").strip().split("\n")[0],
                )
            )
    return variants


def _check_metrics(spec: Spec, problem, problems: list[str]) -> None:
    from restorebench import metrics

    names = [m.name for m in spec.metrics]
    for i, metric_spec in enumerate(spec.metrics):
        if names.index(metric_spec.name) != i:
            problems.append(problem(("metrics", i), f"metric '{metric_spec.name}' is listed twice"))
            continue
        try:
            metrics.get(metric_spec.name, **metric_spec.options)
        except UnknownNameError as exc:
            problems.append(problem(("metrics", i), str(exc)))
        except (TypeError, ValueError) as exc:
            problems.append(problem(("metrics", i), f"bad options for metric '{metric_spec.name}': {exc}"))


def _check_datasets(spec: Spec, problem, problems: list[str]) -> None:
    names = [d.name for d in spec.datasets]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append(problem(("datasets", i, "name"), f"dataset name '{name}' is used twice"))
    for i, method_spec in enumerate(spec.methods):
        for j, dataset in enumerate(method_spec.datasets or []):
            if dataset not in names:
                problems.append(problem(("methods", i, "datasets", j), f"no dataset named '{dataset}' in this spec"))


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
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
