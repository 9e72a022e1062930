"""The benchmark harness: recording headline rows, the one table of `make bench`, the party day's scheduler.

No benchmark runs here and nothing is timed: these check the bookkeeping around the figures.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import requests

from bench import common, party_day, run_all
from bench.common import Target, percentile, record, sized


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "results.jsonl"
    monkeypatch.setenv(common.RESULTS_ENV, str(path))
    monkeypatch.setenv(common.MODULE_ENV, "checkin")
    return path


def test_targets_parse_and_judge() -> None:
    assert Target.parse("ratio >= 0.5") == Target("ratio", ">=", 0.5)
    assert Target.parse(" value<=50 ") == Target("value", "<=", 50.0)
    assert Target.parse("ratio >= 0.5").met(10, 0.5) is True
    assert Target.parse("ratio >= 0.5").met(10, 0.49) is False
    assert Target.parse("ratio >= 0.5").met(10, None) is None
    assert Target.parse("value <= 50").met(50.0, None) is True
    assert Target.parse("value <= 50").met(math.nan, None) is None
    assert Target.parse("value == 2000").met(2000, None) is True
    assert Target.parse("value == 0").met(1, None) is False
    assert Target.parse("ratio >= 0.3").shown() == "ratio ≥ 0.3"
    assert Target.parse("value <= 50").shown("ms") == "≤ 50 ms"
    assert Target.parse("value == 2000").shown("members") == "= 2,000 members"
    assert Target.parse("value == 0").shown("count") == "= 0"
    for wrong in ("≥ 0.5", "ratio > 0.5", "p99 <= 50", "value <= fast", ""):
        with pytest.raises(ValueError, match="a target is"):
            Target.parse(wrong)


def test_record_appends_json_lines_and_says_whether_met(results: Path) -> None:
    assert record("check-in, maximum rate", 100.0, "req/s", "bare insert", 400.0, "ratio >= 0.5") is False
    assert record("check-in p99", 40.0, "ms", target="value <= 50") is True
    assert record("GET /api/v1/me", 900.0, "req/s", "bare route", 1000.0) is None
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["check-in, maximum rate", "check-in p99", "GET /api/v1/me"]
    assert rows[0] == {
        "module": "checkin",
        "name": "check-in, maximum rate",
        "value": 100.0,
        "unit": "req/s",
        "baseline_name": "bare insert",
        "baseline": 400.0,
        "ratio": 0.25,
        "target": "ratio >= 0.5",
        "met": False,
        "quick": common.QUICK,
    }
    assert rows[1]["ratio"] is None and rows[1]["met"] is True
    assert rows[2]["met"] is None


def test_record_without_the_variable_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(common.RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert record("p99", 10.0, "ms", target="value <= 5") is False
    assert list(tmp_path.iterdir()) == []


def test_record_refuses_half_a_baseline_and_a_bad_target(results: Path) -> None:
    with pytest.raises(ValueError, match="a baseline needs both"):
        record("x", 1.0, "ms", baseline=2.0)
    with pytest.raises(ValueError, match="a target is"):
        record("x", 1.0, "ms", target="p99 under 5")
    assert not results.exists()


def test_sized_prefers_the_environment_then_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINLI_BENCH_X", raising=False)
    monkeypatch.setattr(common, "QUICK", False)
    assert sized("LINLI_BENCH_X", 10_000, 1_000) == 10_000
    monkeypatch.setattr(common, "QUICK", True)
    assert sized("LINLI_BENCH_X", 10_000, 1_000) == 1_000
    monkeypatch.setenv("LINLI_BENCH_X", "42")
    assert sized("LINLI_BENCH_X", 10_000, 1_000) == 42
    monkeypatch.setenv("LINLI_BENCH_X", "2.5")
    assert sized("LINLI_BENCH_X", 10.0, 3.0) == 2.5


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 50))


def test_discover_lists_every_benchmark_but_the_helpers(tmp_path: Path) -> None:
    for name in (
        "__init__",
        "__main__",
        "common",
        "bare_app",
        "run_all",
        "store",
        "checkin",
        "zeta",
        "alpha",
    ):
        (tmp_path / f"{name}.py").write_text("")
    assert run_all.discover(tmp_path) == ["checkin", "store", "alpha", "zeta"]
    real = run_all.discover()
    assert {"request_overhead", "checkin", "store", "notify", "ledger", "party_day"} <= set(real)
    assert not {"common", "bare_app", "run_all", "__main__"} & set(real)


def test_rows_are_read_back_with_the_verdict_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    lines = [
        {
            "module": "store",
            "name": "redemptions",
            "value": 75,
            "unit": "per s",
            "baseline_name": "bare",
            "baseline": 1223,
            "target": "ratio >= 0.3",
            "met": True,
        },  # a stale verdict is not trusted
        {"module": "ledger", "name": "balance p99", "value": 3.6, "unit": "ms", "target": "value <= 5"},
        {"module": "request_overhead", "name": "GET /me", "value": 812.4, "unit": "req/s"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    rows = run_all.read_rows(path)
    assert [r.met for r in rows] == [False, True, None]
    assert rows[0].ratio == pytest.approx(75 / 1223)
    assert [run_all.verdict(r) for r in rows] == ["NOT met", "met", "—"]
    assert run_all.cells(rows[0]) == [
        "store",
        "redemptions",
        "75.0 per s",
        "bare",
        "1,223 per s",
        "0.06",
        "ratio ≥ 0.3",
        "NOT met",
    ]
    assert run_all.cells(rows[1])[2:] == ["3.60 ms", "", "", "", "≤ 5 ms", "met"]
    assert run_all.read_rows(tmp_path / "missing.jsonl") == []


def test_numbers_in_the_table() -> None:
    assert run_all.number(1234.5, "req/s") == "1,234 req/s"
    assert run_all.number(62.34, "ms") == "62.3 ms"
    assert run_all.number(3.6, "ms") == "3.60 ms"
    assert run_all.number(0, "count") == "0"
    assert run_all.number(2000, "members") == "2,000 members"
    assert run_all.number(math.nan, "ms") == "n/a"
    assert run_all.number(None) == ""


def test_the_table_in_text_and_markdown() -> None:
    row = run_all.Row("checkin", "check-in p99", 62.3, "ms", "bare p99", 43.3, 62.3 / 43.3, "value <= 50")
    row.met = False
    body = [run_all.cells(row), run_all.failure_cells("notify", 1)]
    text = run_all.render_text(body)
    lines = text.splitlines()
    assert lines[0].startswith("bench") and "baseline (same run)" in lines[0]
    assert set(lines[1]) <= {"-", " "}
    assert "62.3 ms" in lines[2] and "≤ 50 ms" in lines[2] and lines[2].endswith("NOT met")
    assert "FAILED (exit status 1)" in lines[3]
    markdown = run_all.render_markdown(body).splitlines()
    assert markdown[0].startswith("| bench | figure |") and markdown[0].endswith("| met |")
    assert markdown[1].count("---") == len(run_all.HEADERS)
    assert len(markdown) == 4


def test_the_machine_line_names_cpu_ram_services_and_python() -> None:
    line = run_all.machine()
    assert (
        "CPUs" in line and "RAM" in line and "PostgreSQL" in line and "Redis" in line and "Python 3." in line
    )


def test_main_runs_each_benchmark_and_prints_one_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def fake_run(module: str, results: Path) -> int:
        ran.append(module)
        if module == "notify":
            return 3
        with results.open("a") as out:
            out.write(
                json.dumps(
                    {
                        "module": module,
                        "name": f"{module} figure",
                        "value": 2.0,
                        "unit": "ms",
                        "target": "value <= 1",
                    }
                )
                + "\n"
            )
        return 0

    monkeypatch.setattr(run_all, "discover", lambda: ["checkin", "notify", "store"])
    monkeypatch.setattr(run_all, "run", fake_run)
    monkeypatch.setattr(run_all, "machine", lambda: "a test machine")
    monkeypatch.delenv("LINLI_BENCH_QUICK", raising=False)
    assert run_all.main(["--only", "checkin,notify", "--markdown"]) == 1
    assert ran == ["checkin", "notify"]
    out = capsys.readouterr().out
    assert "machine: a test machine" in out and "full run" in out
    assert "checkin figure" in out and "NOT met" in out and "FAILED (exit status 3)" in out
    assert "| checkin | checkin figure |" in out
    assert "1 figures, 0 targets met, 1 not met; FAILED: bench.notify" in out

    ran.clear()
    monkeypatch.setattr(run_all, "discover", lambda: ["checkin"])
    assert run_all.main([]) == 0  # a target not met is a figure, not a failure
    assert run_all.main(["--strict"]) == 1
    with pytest.raises(SystemExit):
        run_all.main(["--only", "nonesuch"])


def test_arrivals_spread_over_the_span_in_order() -> None:
    times = party_day.arrivals(random.Random(1), 2000, 117.6)  # noqa: S311  (a reproducible workload, not a secret)
    assert len(times) == 2000
    assert times == sorted(times)
    assert 0 < times[0] and times[-1] < 117.6
    assert party_day.rate_for(2000, 120) == 17
    assert party_day.rate_for(300, 20) == 16  # never exactly the window: the last ones need time too
    assert party_day.arrivals(random.Random(1), 0, 10) == []  # noqa: S311  (a reproducible workload, not a secret)


def _response(status: int, body: bytes = b"") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


def test_outcomes_name_the_status_and_the_code() -> None:
    assert party_day.outcome_of(_response(201, b"{}")) is None
    assert party_day.outcome_of(_response(200)) is None
    conflict = b'{"error": {"code": "OUT_OF_STOCK", "message": "", "details": {}}}'
    assert party_day.outcome_of(_response(409, conflict)) == "409 OUT_OF_STOCK"
    assert party_day.outcome_of(_response(502, b"<html>bad gateway</html>")) == "502 no envelope"


def test_dispatch_sends_every_event_once_and_counts_errors_and_keys() -> None:
    sent: list[int] = []

    def answer(n: int, status: int) -> party_day.Event:
        def send(session: requests.Session) -> requests.Response:
            sent.append(n)
            if status == 0:
                raise requests.ConnectionError("refused")
            return _response(status, b'{"error": {"code": "X"}}')

        kind = party_day.REDEEM if n % 2 else party_day.WISH
        return party_day.Event(0.001 * (n % 7), kind, send, key=f"k{n}" if n % 2 else None)

    events = [answer(n, 201 if n < 40 else (409 if n < 45 else 0)) for n in range(50)]
    recorder = party_day.Recorder()
    party_day.dispatch(events, 8, recorder, start=0.0)
    assert sorted(sent) == list(range(50))
    stats = recorder.stats
    assert len(stats[party_day.REDEEM].latencies) + len(stats[party_day.WISH].latencies) == 50
    errors = stats[party_day.REDEEM].errors + stats[party_day.WISH].errors
    assert errors == {"409 X": 5, "no answer (ConnectionError)": 5}
    assert recorder.keys_ok == {f"k{n}" for n in range(1, 40, 2)}
