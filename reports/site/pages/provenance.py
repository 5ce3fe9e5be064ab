"""Where the numbers come from: the runs and imports (with their files, never a claimed machine
or settings for imported scores), the methodology (metrics as computed here, or as imported),
and the downloads (the raw tables and the site's own leaderboard tables)."""
from __future__ import annotations

import pandas as pd

from restorebench.reports import markdown as md
from restorebench.reports import stats as st
from restorebench.reports.site.context import Page, SiteContext, count, flat_items, jsonable, size_text, when
from restorebench.reports.site.data import registry_attribute

STATUS_ORDER = ("ok", "unavailable", "invalid_input", "failed", "timeout", "crashed")


def build(ctx: SiteContext) -> None:
    build_runs(ctx)
    build_methodology(ctx)
    build_downloads(ctx)


def status_counts(ctx: SiteContext, run_id: str) -> list[tuple[str, str]]:
    """Cases of a run by status: unavailable (weights missing) is its own line, not "failed"."""
    rows = ctx.data.run_status[ctx.data.run_status["run_id"] == run_id]
    found = dict(zip(rows["status"], rows["n"]))
    ordered = [s for s in STATUS_ORDER if s in found] + sorted(s for s in found if s not in STATUS_ORDER)
    return [(status, str(int(found[status]))) for status in ordered]


def build_runs(ctx: SiteContext) -> None:
    data = ctx.data
    imports = {r["run_id"]: r for r in data.imports.to_dict("records")}
    runs = []
    for r in data.runs.to_dict("records"):
        imported = r["kind"] == "import"
        source = imports.get(r["run_id"], {})
        options = jsonable(r["spec_text"]) if imported else None
        options = options if isinstance(options, dict) else {}
        runs.append({
            "run_id": r["run_id"], "kind": r["kind"], "imported": imported, "spec_name": r["spec_name"],
            "spec_path": r["spec_path"], "spec_sha256": r["spec_sha256"], "started": when(r["started_at"]),
            "finished": when(r["finished_at"]), "status": r["status"],
            "git": (r["git_sha"] or "—") + (" (uncommitted changes)" if r["git_dirty"] is True else ""),
            "argv": r["argv"], "cases": status_counts(ctx, r["run_id"]),
            "planned": [(k, count(r[k])) for k in ("n_planned", "n_skipped")],
            "versions": flat_items(jsonable(r["versions"])), "machine": [] if imported else flat_items(jsonable(r["machine"])),
            "spec_text": "" if imported else (r["spec_text"] or ""),
            "file": source.get("path"), "sha256": source.get("source_sha256"), "format": source.get("format"),
            "source": options.get("source"), "paper": options.get("paper"), "mapping": options.get("match"),
        })
    ctx.render(Page("runs.md", "Runs and provenance", None), "runs.md.j2", runs=runs)


def build_methodology(ctx: SiteContext) -> None:
    data = ctx.data
    origins = data.metric_origins
    rows, definitions = [], []
    for r in data.metrics.sort_values("name").to_dict("records"):
        name = r["name"]
        how = set(origins.loc[origins["metric"] == name, "origin"])
        computed_here = "run" in how
        direction = data.directions.get(name)
        conventions = (r["conventions"] or "—") if computed_here else "imported: computed elsewhere; its settings are not known here"
        rows.append([name, r["kind"] or "—", {True: "higher ↑", False: "lower ↓"}.get(direction, "unknown"),
                     f"{md.number(r['range_low'], digits=2)} … {md.number(r['range_high'], digits=2)}",
                     " and ".join(sorted({"run": "computed here", "import": "imported"}.get(o, o) for o in how)) or "—",
                     conventions, data.measures.get(name) or "image quality"])
        doc = registry_attribute(name, "__doc__") if computed_here else None
        definitions.append({"name": name, "doc": " ".join((doc or "").split()), "options": jsonable(r["options"]) if computed_here else None})
    ctx.render(Page("methodology.md", "Methodology", "Methodology"), "methodology.md.j2",
               metrics_table=md.table(["metric", "kind", "better", "range", "scores", "conventions", "measures"], rows,
                                      align=list("lllllll")),
               definitions=definitions, options=ctx.options, confidence=int(round(ctx.options.confidence * 100)),
               bca_max_n=st.BCA_MAX_N, normal_min_n=st.NORMAL_MIN_N, min_pairs=st.MIN_PAIRS,
               paired=st.PAIRED_TEST, unpaired=st.UNPAIRED_TEST)


LEADERBOARD_COLUMNS = ["level", "task", "dataset", "metric", "label", "n", "n_inf", "mean", "std", "median", "ci_low", "ci_high",
                       "rank", "tied", "test", "n_pairs", "mean_delta", "delta_low", "delta_high", "p_value", "p_adjusted",
                       "significant"]


def build_downloads(ctx: SiteContext) -> None:
    frames = []
    for level in ("task", "dataset"):
        board = ctx.analyses.board(level)
        if len(board):
            frames.append(board.assign(level=level))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    if "dataset" not in table:
        table["dataset"] = None
    path = ctx.docs_dir / "downloads" / "leaderboard.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table[LEADERBOARD_COLUMNS].assign(label=lambda f: f["label"].astype(str)).to_csv(path, index=False)
    files = [path] + list(ctx.data.downloads)
    rows = []
    for file in files:
        rel = file.relative_to(ctx.docs_dir).as_posix()
        rows.append([md.link(file.name, rel), file.suffix.lstrip("."), size_text(file.stat().st_size)])
    ctx.render(Page("downloads.md", "Downloads", None), "downloads.md.j2",
               table=md.table(["file", "format", "size"], rows, align=list("llr")))
