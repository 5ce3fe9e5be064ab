"""Every SQL statement the reports read the database with, in one place.

Aggregation happens in DuckDB: Python receives per-image means one (task, metric) slice at a
time, counts grouped by status and message, and the few rows of the description tables — never
one row per score. :func:`prepare` first bounds DuckDB's memory and materialises, private to the
read-only connection, ``rb_cases`` (the store's ``current_cases`` view, whose window function
would otherwise run again for every query; ``rb_scores`` joins scores with it, as the store's
``results`` view does) and ``rb_image`` (one value per image, method and metric). A set-level
method's samples are images of their own there, not samples of one image.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

#: Task of cases that have none (imports of unknown task are "sr"; this is for old rows).
NO_TASK = "other"

# A set-level method (a GAN trained on a whole set) has no input image: each of its samples is a
# generated image of its own, so each sample is one image here, not a sample of one image to be
# averaged; its name carries the label ("<set>/<label>-sample<k>"), because sample k of one GAN
# and sample k of another are unrelated images that must not pair. Databases written before the
# column existed have none.
CASES_SET_LEVEL = """
CREATE OR REPLACE TEMP TABLE rb_cases AS
SELECT c.* REPLACE (CASE WHEN m.set_level THEN c.item || '/' || c.label || '-sample' || c.sample ELSE c.item END AS item)
FROM current_cases c LEFT JOIN methods m USING (variant_id);
"""
CASES_PLAIN = "CREATE OR REPLACE TEMP TABLE rb_cases AS SELECT * FROM current_cases;"
CURRENT = """
CREATE OR REPLACE TEMP VIEW rb_scores AS
SELECT s.case_id, s.metric, s.value, s.status, s.error, c.run_id, c.origin, c.dataset, c.task, c.domain, c.group_name,
       c.item, c.method, c.variant_id, c.label, c.seed, c.sample
FROM scores s JOIN rb_cases c USING (case_id);
"""
# One value per (image, method label, metric): the mean over seeds and samples of the finite
# and infinite values (NaN is missing). `image` identifies an image across methods.
IMAGE_SCORES = f"""
CREATE OR REPLACE TEMP TABLE rb_image AS
SELECT COALESCE(task, '{NO_TASK}') AS task, domain, dataset, COALESCE(group_name, dataset) AS group_name, item,
       label, metric, avg(value) AS value, count(*) AS n_samples,
       hash(dataset, COALESCE(group_name, dataset), item) AS image
FROM rb_scores
WHERE status = 'ok' AND value IS NOT NULL AND NOT isnan(value)
GROUP BY ALL
"""
SLICES = "SELECT DISTINCT task, metric FROM rb_image ORDER BY task, metric"
SLICE = """
SELECT task, domain, dataset, group_name, item, label, metric, value, n_samples, image
FROM rb_image WHERE task = ? AND metric = ? ORDER BY dataset, group_name, label, item
"""


def metric_pivot(n_metrics: int) -> str:
    """Per task (parameter 1): one row per (image, method) and one column per metric (parameters
    2…), for metric–metric correlations."""
    columns = ", ".join(f"max(value) FILTER (WHERE metric = ${i + 2}) AS m{i}" for i in range(n_metrics))
    return f"SELECT {columns} FROM rb_image WHERE task = $1 GROUP BY image, label"


# Per task, set and method: the mean over images of each kernel-accuracy metric (parameter: their
# names), with the number of images. Infinite values (an exact kernel's PSNR) stay infinite.
KERNEL_ACCURACY = """
SELECT task, dataset, group_name, label, metric, avg(value) AS mean, count(*) AS n
FROM rb_image WHERE metric IN (SELECT unnest(?::VARCHAR[]))
GROUP BY ALL ORDER BY task, dataset, group_name, label, metric
"""

METRIC_DIRECTIONS = """
SELECT m.metric, k.higher_is_better
FROM (SELECT name AS metric FROM metrics UNION SELECT DISTINCT metric FROM scores) m
LEFT JOIN metrics k ON k.name = m.metric
ORDER BY m.metric
"""

# "not_applicable" (a full-reference metric without a reference) is not a missing score.
PROBLEMS = f"""
SELECT COALESCE(task, '{NO_TASK}') AS task, dataset, COALESCE(group_name, dataset) AS group_name, label, metric,
       status, COALESCE(error, '') AS error, count(*) AS n
FROM rb_scores WHERE status <> 'not_applicable' AND (status <> 'ok' OR value IS NULL OR isnan(value))
GROUP BY ALL ORDER BY ALL
"""
CASE_STATUS = f"""
SELECT COALESCE(task, '{NO_TASK}') AS task, domain, dataset, COALESCE(group_name, dataset) AS group_name, label,
       origin, status, COALESCE(error, '') AS error, count(*) AS n, count(DISTINCT item) AS n_items
FROM rb_cases GROUP BY ALL ORDER BY ALL
"""
TIMINGS = f"""
SELECT label, dataset, COALESCE(task, '{NO_TASK}') AS task, count(*) AS cases,
       count(*) FILTER (WHERE status = 'ok') AS ok,
       avg(seconds_load) AS seconds_load, avg(seconds_prepare) AS seconds_prepare,
       avg(seconds_restore) AS seconds_restore, avg(seconds_save) AS seconds_save,
       avg(seconds_total) AS seconds_total, avg(peak_rss_mb) AS peak_rss_mb
FROM rb_cases GROUP BY ALL ORDER BY ALL
"""
SET_SIZES = f"""
SELECT dataset, COALESCE(group_name, dataset) AS group_name, COALESCE(task, '{NO_TASK}') AS task,
       any_value(domain) AS domain, count(DISTINCT item) AS n_items, count(DISTINCT label) AS n_methods,
       bool_or(output_path IS NOT NULL OR input_path IS NOT NULL) AS has_images
FROM rb_cases GROUP BY ALL ORDER BY ALL
"""
# One row per method label: its current variant (the one of its most recently finished case),
# whether all its cases are imported, and how many code versions it has run with.
LABELS = """
SELECT c.label, arg_max(c.variant_id, COALESCE(c.finished_at, TIMESTAMP '1970-01-01')) AS variant_id, bool_and(c.origin = 'import') AS imported,
       count(*) AS cases, count(*) FILTER (WHERE c.status = 'ok') AS ok,
       (SELECT count(DISTINCT h.variant_id) FROM cases h LEFT JOIN methods m ON m.variant_id = h.variant_id
        WHERE COALESCE(m.label, h.method) = c.label) AS n_versions
FROM rb_cases c GROUP BY c.label ORDER BY c.label
"""
TABLE = {name: f"SELECT * FROM {name}" for name in ("methods", "metrics", "datasets")}
RUNS = "SELECT * FROM runs ORDER BY started_at, run_id"
IMPORTS = "SELECT * FROM imports ORDER BY imported_at, path"
# The machine and code of the run that computed each method's current scores.
LABEL_RUNS = """
SELECT c.label, c.run_id, count(*) AS cases FROM rb_cases c GROUP BY ALL ORDER BY c.label, cases DESC
"""

# History: the mean of each given method label (parameter: a list) per code version (variant)
# and metric, over every case ever stored (the store keeps superseded cases), with the run that
# first produced it.
HISTORY = f"""
WITH per_image AS (
    SELECT COALESCE(m.label, c.method) AS label, c.variant_id, COALESCE(c.task, '{NO_TASK}') AS task, s.metric,
           c.dataset, c.group_name, c.item, avg(s.value) AS value, min(c.finished_at) AS finished_at,
           arg_min(c.run_id, c.finished_at) AS run_id
    FROM scores s JOIN cases c USING (case_id) LEFT JOIN methods m ON m.variant_id = c.variant_id
    WHERE s.status = 'ok' AND s.value IS NOT NULL AND isfinite(s.value)
      AND COALESCE(m.label, c.method) IN (SELECT unnest(?::VARCHAR[]))
    GROUP BY ALL
)
SELECT p.label, p.variant_id, p.task, p.metric, count(*) AS n, avg(p.value) AS mean,
       stddev_pop(p.value) AS std, min(p.finished_at) AS first_at, arg_min(p.run_id, p.finished_at) AS run_id,
       any_value(m.code_version) AS code_version, any_value(r.git_sha) AS git_sha
FROM per_image p LEFT JOIN methods m ON m.variant_id = p.variant_id
LEFT JOIN runs r ON r.run_id = p.run_id
GROUP BY p.label, p.variant_id, p.task, p.metric ORDER BY p.label, p.task, p.metric, first_at
"""


# Image names that do not pair. Per (task, dataset, `within`): the distinct sets of `between`
# values that score one image, with how many images each set scores — few rows (usually one set:
# every method or metric scored every image), from which the pairs that share no image follow.
def cooccurrence(within: str, between: str) -> str:
    return f"""
SELECT task, dataset, {within}, members, count(*) AS n FROM (
    SELECT task, dataset, {within}, image, list_sort(list(DISTINCT {between}::VARCHAR)) AS members
    FROM rb_image GROUP BY task, dataset, {within}, image)
GROUP BY ALL ORDER BY ALL
"""


# Images of a dataset for galleries and the drill-down: its items in name order (for paging),
# then the current cases of some of them (first seed and sample per method) and their scores.
ITEMS = """
SELECT DISTINCT COALESCE(group_name, dataset) AS group_name, item, hash(dataset, COALESCE(group_name, dataset), item) AS image
FROM rb_cases WHERE dataset = ? ORDER BY group_name, item
"""
ITEM_CASES = """
SELECT COALESCE(group_name, dataset) AS group_name, item, label, status, error, input_path, reference_path, output_path,
       seed, sample
FROM rb_cases
WHERE dataset = ? AND hash(dataset, COALESCE(group_name, dataset), item) IN (SELECT unnest(?::UBIGINT[]))
QUALIFY row_number() OVER (PARTITION BY group_name, item, label ORDER BY seed, sample) = 1
ORDER BY group_name, item, label
"""
ITEM_SCORES = """
SELECT group_name, item, label, metric, value FROM rb_image
WHERE dataset = ? AND image IN (SELECT unnest(?::UBIGINT[]))
ORDER BY group_name, item, label, metric
"""
IMAGE_VALUES = """
SELECT image, value FROM rb_image WHERE task = ? AND metric = ? AND label = ? AND image IN (SELECT unnest(?::UBIGINT[]))
"""

# Every sample as an observation (the start-scale curves of a parameter sweep).
SAMPLE_SCORES = """
SELECT variant_id, method, COALESCE(group_name, dataset) AS group_name, metric, value
FROM rb_scores WHERE status = 'ok' AND value IS NOT NULL AND NOT isnan(value) AND variant_id IN (SELECT unnest(?::VARCHAR[]))
"""
SWEEP_CASES = """
SELECT method, COALESCE(group_name, dataset) AS group_name, item, variant_id, seed, sample, input_path, reference_path, output_path
FROM rb_cases WHERE status = 'ok' AND variant_id IN (SELECT unnest(?::VARCHAR[]))
ORDER BY method, group_name, item, seed, sample, variant_id
"""


#: DuckDB's memory on a reading connection: beyond it, DuckDB spills its temporary tables and
#: intermediate results to TEMP_DIRECTORY, so a report's memory does not grow with the database.
MEMORY_LIMIT = "1GB"
TEMP_DIRECTORY = Path(tempfile.gettempdir()) / "restorebench-duckdb"


def prepare(store: Any) -> None:
    """Bound DuckDB's memory and create the temporary tables of this connection (see the module
    docstring), once."""
    present = store.query("SELECT count(*) AS n FROM duckdb_tables() WHERE temporary AND table_name = 'rb_image'")
    if present.to_pylist()[0]["n"]:
        return
    store.con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    store.con.execute("SET temp_directory = ?", [str(TEMP_DIRECTORY)])
    has_set_level = store.query(
        "SELECT count(*) AS n FROM duckdb_columns() WHERE table_name = 'methods' AND column_name = 'set_level'"
    ).to_pylist()[0]["n"]
    store.con.execute(CASES_SET_LEVEL if has_set_level else CASES_PLAIN)
    store.con.execute(CURRENT)
    store.con.execute(IMAGE_SCORES)
RUN_TASKS = f"SELECT DISTINCT run_id, COALESCE(task, '{NO_TASK}') AS task FROM cases ORDER BY ALL"
RUN_STATUS = "SELECT run_id, status, count(*) AS n FROM cases GROUP BY ALL ORDER BY ALL"
METRIC_ORIGINS = "SELECT metric, origin, count(*) AS n FROM rb_scores GROUP BY ALL ORDER BY ALL"
COUNTS = "SELECT (SELECT count(*) FROM rb_cases) AS cases, (SELECT count(*) FROM rb_scores WHERE status = 'ok') AS scores"
# The output image of a method for given images (first seed and sample).
OUTPUTS = """
SELECT hash(dataset, COALESCE(group_name, dataset), item) AS image, output_path FROM rb_cases
WHERE dataset = ? AND label = ? AND status = 'ok' AND output_path IS NOT NULL
  AND hash(dataset, COALESCE(group_name, dataset), item) IN (SELECT unnest(?::UBIGINT[]))
QUALIFY row_number() OVER (PARTITION BY group_name, item ORDER BY seed, sample) = 1
"""
# The terminal leaderboard: images of each method per dataset, and the cases that did not succeed.
DATASET_ITEMS = "SELECT dataset, label, count(DISTINCT (group_name, item)) AS n_items FROM rb_cases GROUP BY ALL"
FAILURES = "SELECT dataset, item, label, status, error FROM rb_cases WHERE status <> 'ok' ORDER BY 1, 3, 2"
