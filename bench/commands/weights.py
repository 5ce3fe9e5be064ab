"""``restorebench weights list [--json] | path KEY | verify [KEY...] | fetch KEY | add FILE [--key KEY]``.

The catalogue is declared by the methods and metrics that use each file, so every command first
imports all of them (``models.available()`` and ``metrics.available()`` trigger discovery).
Files are looked up in ``$RESTOREBENCH_WEIGHTS`` (folders separated by ``os.pathsep``), then in
``~/.cache/restorebench/weights``; ``add`` and ``fetch`` install into the first of these.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from restorebench.bench.commands._common import json_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "weights",
        help="list, locate, verify, fetch or add checkpoint files of the pretrained methods and metrics",
        description="Manage the checkpoint files of the pretrained methods and metrics. Search order: "
        "$RESTOREBENCH_WEIGHTS, then ~/.cache/restorebench/weights.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = actions.add_parser("list", help="every known file, its status and where to get it")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(handler=_list)

    a = actions.add_parser("path", help="print the path of a present, hash-checked file")
    a.add_argument("key")
    a.set_defaults(handler=_path)

    a = actions.add_parser("verify", help="check sizes and hashes of present files (exit 1 on a mismatch)")
    a.add_argument("keys", nargs="*", metavar="KEY", help="only these (default: every present file)")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(handler=_verify)

    a = actions.add_parser("fetch", help="download a file (fails fast without a network, with the URL to use by hand)")
    a.add_argument("key")
    a.add_argument("--timeout", type=float, default=None, help="seconds without data before giving up")
    a.set_defaults(handler=_fetch)

    a = actions.add_parser("add", help="copy a downloaded file into the weights folder and record its sha256")
    a.add_argument("file")
    a.add_argument("--key", default=None, help="catalogue entry, when the file name is ambiguous or was changed")
    a.set_defaults(handler=_add)


def _catalogue():
    from restorebench import metrics
    from restorebench import models
    from restorebench.metrics import weights

    models.available()
    metrics.available()
    return weights


def _list(args: argparse.Namespace) -> int:
    w = _catalogue()
    rows: list[dict[str, Any]] = []
    for key in sorted(w.CATALOGUE):
        wf = w.CATALOGUE[key]
        rows.append({**wf.as_dict(), **w.status(key), "downloadable": w.downloadable(wf)})
    if args.json:
        print(json_text({"search_dirs": [str(d) for d in w.search_dirs()], "files": rows}))
        return 0
    print("search folders: " + "  ".join(str(d) for d in w.search_dirs()))
    width = max((len(r["key"]) for r in rows), default=10)
    for r in rows:
        where = r["path"] if r["status"] == "present" else r["url"]
        print(f"{r['key']:<{width}}  {r['status']:<13}  {r['filename']:<36}  {where}")
        if r["status"] == "hash mismatch":
            print(f"{'':<{width}}  ↳ {r['detail']}")
    return 0


def _path(args: argparse.Namespace) -> int:
    w = _catalogue()
    w.entry(args.key)  # unknown keys: a clear error with "did you mean"
    print(w.resolve(args.key))
    return 0


def _verify(args: argparse.Namespace) -> int:
    w = _catalogue()
    verdicts = w.verify(args.keys or None)
    if not args.keys:  # without keys: report what is present (and mismatches), not every missing file
        verdicts = [v for v in verdicts if v.status != "missing"]
    if args.json:
        print(json_text([v.as_dict() for v in verdicts]))
    else:
        if not verdicts:
            print("no weights files present in: " + "  ".join(str(d) for d in w.search_dirs()))
        for v in verdicts:
            mark = {"ok": "OK", "unverified": "UNVERIFIED", "missing": "MISSING", "mismatch": "TAMPERED", "unloadable": "UNLOADABLE"}[v.status]
            print(f"{mark} {v.key}: {v.path or v.filename}: {v.detail}")
    failed = [v for v in verdicts if v.failed or (args.keys and v.status == "missing")]
    if failed and not args.json:
        print(f"{len(failed)} file(s) failed verification", file=sys.stderr)
    return 1 if failed else 0


def _fetch(args: argparse.Namespace) -> int:
    w = _catalogue()
    kwargs = {} if args.timeout is None else {"timeout": args.timeout}
    done = w.fetch(args.key, **kwargs)
    print(f"{done.key}: {done.path} (sha256 {done.sha256})")
    return 0


def _add(args: argparse.Namespace) -> int:
    w = _catalogue()
    done = w.add(args.file, key=args.key)
    print(f"{done.key}: installed {done.path} ({done.size} bytes, sha256 {done.sha256})")
    return 0
