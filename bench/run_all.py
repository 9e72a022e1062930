"""`make bench`: every benchmark under bench/, each in its own process, then one table.

Each benchmark prints its own figures as it goes and records its headline rows with
``bench.common.record()`` into a JSON-lines file named by LINLI_BENCH_RESULTS (a temporary file
here). At the end this prints one table — figure, value, the baseline measured in the same run, the
ratio, the target and whether it is met — with the date and the machine (CPU, RAM, PostgreSQL,
Redis, Python) it ran on.

    python -m bench.run_all                    # the full run (a million ledger entries, 2,000 members)
    LINLI_BENCH_QUICK=1 python -m bench.run_all  # or --quick: shorter runs, fewer rows, a minute or two
    python -m bench.run_all --only checkin,party_day --markdown

A benchmark that fails is named in the table and the exit status is 1; a target not met is a
figure, not a failure (``--strict`` makes it one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ADMIN_URL, MODULE_ENV, REDIS_URL, RESULTS_ENV, ROOT, Target

WHOLE_UNITS = ("count", "members")
HELPERS = {"__init__", "__main__", "common", "bare_app", "run_all"}
# Cheap first, so a broken setup shows early; any other bench/*.py module runs after these.
ORDER = ["request_overhead", "checkin", "store", "notify", "ledger", "party_day"]


def discover(bench_dir: Path = ROOT / "bench") -> list[str]:
    """The benchmark modules: every bench/*.py but the helpers, in ORDER and then by name."""
    found = {p.stem for p in bench_dir.glob("*.py")} - HELPERS
    return [m for m in ORDER if m in found] + sorted(found - set(ORDER))


@dataclass
class Row:
    """One headline figure as recorded by a benchmark."""

    module: str
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None

    @classmethod
    def from_json(cls, line: str) -> Row:
        """Read one line of the results file; ``met`` is recomputed from the target."""
        data: dict[str, Any] = json.loads(line)
        value = float(data["value"])
        baseline = None if data.get("baseline") is None else float(data["baseline"])
        ratio = value / baseline if baseline else None
        target = data.get("target")
        return cls(
            module=str(data.get("module", "?")),
            name=str(data["name"]),
            value=value,
            unit=str(data.get("unit", "")),
            baseline_name=data.get("baseline_name"),
            baseline=baseline,
            ratio=ratio,
            target=target,
            met=Target.parse(target).met(value, ratio) if target else None,
        )


def read_rows(path: Path) -> list[Row]:
    """Every row recorded in ``path`` (none if it does not exist)."""
    if not path.exists():
        return []
    return [Row.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def number(value: float | None, unit: str = "") -> str:
    """A figure for the table: thousands separated from 100 up, more decimals below; counts whole."""
    if value is None:
        return ""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100 or (unit in WHOLE_UNITS and value == int(value)):
        shown = f"{value:,.0f}"
    elif abs(value) >= 10:
        shown = f"{value:.1f}"
    else:
        shown = f"{value:.2f}"
    return shown if unit in ("", "count") else f"{shown} {unit}"


def verdict(row: Row) -> str:
    """met / NOT met / — (no target) / n/a (a target that could not be judged)."""
    if row.target is None:
        return "—"
    if row.met is None:
        return "n/a"
    return "met" if row.met else "NOT met"


HEADERS = ["bench", "figure", "value", "baseline (same run)", "baseline", "ratio", "target", "met"]


def cells(row: Row) -> list[str]:
    """The table's cells of one row."""
    target = Target.parse(row.target).shown(row.unit) if row.target else "—"
    return [
        row.module,
        row.name,
        number(row.value, row.unit),
        row.baseline_name or "",
        number(row.baseline, row.unit) if row.baseline is not None else "",
        f"{row.ratio:.2f}" if row.ratio is not None else "",
        target,
        verdict(row),
    ]


def failure_cells(module: str, returncode: int) -> list[str]:
    """A row saying a benchmark did not finish."""
    return [module, f"FAILED (exit status {returncode}); its rows may be missing", "", "", "", "", "", ""]


def render_text(body: list[list[str]]) -> str:
    """A plain table, columns padded to their widest cell; numbers right-aligned."""
    widths = [max(len(r[i]) for r in [HEADERS, *body]) for i in range(len(HEADERS))]
    right = {2, 4, 5}

    def line(cols: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cols, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(HEADERS), rule, *(line(r) for r in body)])


def render_markdown(body: list[list[str]]) -> str:
    """The same table in Markdown, for the README."""

    def line(cols: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cols) + " |"

    align = ["---", "---", "---:", "---", "---:", "---:", "---", "---"]
    return "\n".join([line(HEADERS), "| " + " | ".join(align) + " |", *(line(r) for r in body)])


def _cpu() -> str:
    model, count = "", 0
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = text.partition(":")
            if key.strip() == "processor":
                count += 1
            elif key.strip() in ("model name", "Hardware", "cpu model") and not model:
                model = value.strip()
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine()}, {count or os.cpu_count() or '?'} CPUs"


def _ram() -> str:
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal:"):
                return f"{int(text.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return "RAM unknown"


def _postgres() -> str:
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0].split()[0] if row else '?'}"
    except Exception as exc:  # a table without the version is still a table
        return f"PostgreSQL unreachable ({type(exc).__name__})"


def _redis() -> str:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        try:
            return f"Redis {client.info('server').get('redis_version', '?')}"
        finally:
            client.close()
    except Exception as exc:
        return f"Redis unreachable ({type(exc).__name__})"


def machine() -> str:
    """CPU model and count, RAM, PostgreSQL, Redis, Python and the kernel."""
    return "; ".join(
        [
            _cpu(),
            _ram(),
            _postgres(),
            _redis(),
            f"Python {platform.python_version()}",
            f"{platform.system()} {platform.release()}",
        ]
    )


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run(module: str, results: Path) -> int:
    """Run ``bench.<module>`` in a subprocess recording into ``results``; its exit status."""
    env = {**os.environ, RESULTS_ENV: str(results), MODULE_ENV: module}
    print(f"\n===== bench.{module} =====", flush=True)
    started = time.perf_counter()
    returncode = subprocess.call([sys.executable, "-m", f"bench.{module}"], cwd=ROOT, env=env)  # noqa: S603  (a fixed argv: this interpreter running a bench module)
    print(
        f"===== bench.{module}: {time.perf_counter() - started:.0f} s, exit status {returncode}", flush=True
    )
    return returncode


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the table; the exit status says whether every one finished."""
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs and fewer rows (LINLI_BENCH_QUICK=1)"
    )
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run, e.g. checkin,ledger")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument("--results", default="", help="keep the recorded JSON lines in this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met, too")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["LINLI_BENCH_QUICK"] = "1"
    quick = os.environ.get("LINLI_BENCH_QUICK", "").strip() not in ("", "0")
    modules = discover()
    if args.only:
        wanted = [m.strip().removeprefix("bench.") for m in args.only.split(",") if m.strip()]
        unknown = sorted(set(wanted) - set(modules))
        if unknown:
            parser.error(f"no benchmark {', '.join(unknown)} (there are: {', '.join(modules)})")
        modules = [m for m in modules if m in wanted]

    began, load_before = datetime.now().astimezone(), _load()
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        results = Path(args.results).resolve() if args.results else Path(tmp) / "results.jsonl"
        results.unlink(missing_ok=True)
        failed: dict[str, int] = {}
        for module in modules:
            returncode = run(module, results)
            if returncode:
                failed[module] = returncode
        rows = read_rows(results)

    body: list[list[str]] = []
    for module in modules:
        body.extend(cells(r) for r in rows if r.module == module)
        if module in failed:
            body.append(failure_cells(module, failed[module]))
    body.extend(cells(r) for r in rows if r.module not in modules)
    took = (datetime.now().astimezone() - began).total_seconds()
    print()
    kind = "QUICK run (LINLI_BENCH_QUICK=1)" if quick else "full run"
    print(f"Linli benchmarks — {began:%Y-%m-%d %H:%M %Z}, {kind}, {took / 60:.1f} min")
    print(f"machine: {machine()}")
    print(f"load average (1/5/15 min) before {load_before}, after {_load()}")
    print()
    print(render_text(body))
    if args.markdown:
        print()
        print(render_markdown(body))
    not_met = [r for r in rows if r.met is False]
    summary = f"{len(rows)} figures, {sum(r.met is True for r in rows)} targets met, {len(not_met)} not met"
    if failed:
        summary += f"; FAILED: {', '.join(f'bench.{m}' for m in failed)}"
    print(f"\n{summary}")
    if quick:
        print("quick run: smaller data and shorter runs — not the figures to publish")
    return 1 if failed or (args.strict and not_met) else 0


if __name__ == "__main__":
    sys.exit(main())
