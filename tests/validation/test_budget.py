"""The per-file time budget's worker processes (einvoice.validation.budget), with stand-in tasks:
one result per item in input order, a file over the budget stops only its worker, a worker that
dies or raises costs only its file, workers are kept across runs and replaced when a setting they
read at fork time changes. The real validator under the budget: tests/pipeline/test_time_budget.py."""
from __future__ import annotations

import os
import time

import pytest

from einvoice.validation import budget


def pid_of(name: str, arg, config):
    """Stand-in task: sleeps ``arg`` seconds, dies on 'die', raises on 'raise'."""
    if name == "die":
        os._exit(3)
    if name == "raise":
        raise ValueError("kaputt")
    time.sleep(arg)
    return name, os.getpid(), config, os.environ.get("EINVOICE_LANGUAGE")


def results(workers, items, seconds=2.0, config=None):
    return [r for r, _ready in workers.run(pid_of, items, config=config, budget=seconds)]


def test_default_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv("EINVOICE_VALIDATION_TIMEOUT", raising=False)
    assert budget.default_time_budget() == 120.0
    monkeypatch.setenv("EINVOICE_VALIDATION_TIMEOUT", "0")
    assert budget.default_time_budget() == 0.0
    monkeypatch.setenv("EINVOICE_VALIDATION_TIMEOUT", " 0.25 ")
    assert budget.default_time_budget() == 0.25
    for bad in ("-1", "nan", "zwei"):
        monkeypatch.setenv("EINVOICE_VALIDATION_TIMEOUT", bad)
        with pytest.raises(ValueError):
            budget.default_time_budget()


@pytest.mark.timeout(60)
def test_a_file_over_the_budget_is_not_validated_and_the_next_gets_a_fresh_worker():
    with budget.Workers(1) as workers:
        t0 = time.monotonic()
        out = results(workers, [("a", 0), ("slow", 30), ("b", 0)], seconds=1.0)
        assert time.monotonic() - t0 < 15
    assert out[0][0] == "a" and out[2][0] == "b"
    slow = out[1]
    assert slow.path == "slow" and slow.valid is None and [f.rule for f in slow.findings] == ["VALIDATION-TIMEOUT"]
    assert "länger als 1 s" in slow.findings[0].message and slow.not_validated_reason == "validation time budget exceeded"
    assert os.getpid() not in (out[0][1], out[2][1]) and out[0][1] != out[2][1]


@pytest.mark.timeout(60)
def test_stopping_one_worker_leaves_the_file_in_the_other_alone():
    """'slow' is stopped at 3 s while 'b' (from 1.5 s to 3.75 s, its own deadline at 4.5 s) is in
    the other worker: 'b' finishes there, it is neither lost nor validated again."""
    with budget.Workers(2) as workers:
        out = results(workers, [("slow", 30), ("a", 1.5), ("b", 2.25), ("c", 0)], seconds=3.0)
    assert out[0].path == "slow" and out[0].findings[0].rule == "VALIDATION-TIMEOUT"
    assert [r[0] for r in out[1:]] == ["a", "b", "c"], out
    assert out[1][1] == out[2][1], "b stayed in the worker that had validated a"


@pytest.mark.timeout(60)
def test_a_worker_that_dies_or_raises_costs_only_its_file():
    with budget.Workers(1) as workers:
        out = results(workers, [("a", 0), ("die", 0), ("raise", 0), ("b", 0)])
    assert [r[0] for r in (out[0], out[3])] == ["a", "b"]
    died, raised = out[1], out[2]
    assert died.valid is None and [f.rule for f in died.findings] == ["ENGINE-ERROR"]
    assert "validator process died on this file, exit code 3" in died.not_validated_reason
    assert raised.valid is None and "ValueError: kaputt" in raised.not_validated_reason
    assert out[0][1] != out[3][1], "the dead worker was replaced"


@pytest.mark.timeout(60)
def test_workers_are_kept_across_runs_and_follow_the_callers_settings(monkeypatch):
    monkeypatch.setenv("EINVOICE_LANGUAGE", "de")
    with budget.Workers(1) as workers:
        first = results(workers, [("a", 0)], config="cfg")[0]
        assert first[2] == "cfg" and first[3] == "de", "the config and the language travel with each file"
        monkeypatch.setenv("EINVOICE_LANGUAGE", "en")
        second = results(workers, [("b", 0)])[0]
        assert second[1] == first[1] and second[3] == "en", "same worker, still warm, in the language set now"
        monkeypatch.delenv("EINVOICE_LANGUAGE")
        assert results(workers, [("c", 0)])[0][3] is None
        monkeypatch.setenv("EINVOICE_RULEPACK_REPORT", "forked-again")
        assert results(workers, [("d", 0)])[0][1] != first[1], "read once per process: a fresh worker"


@pytest.mark.timeout(60)
def test_a_caller_that_stops_early_does_not_get_a_busy_worker_back():
    with budget.Workers(1) as workers:
        run = workers.run(pid_of, [("a", 0), ("b", 5), ("c", 0)], budget=30)
        first, _ = next(run)
        run.close()  # "b" is in the worker now
        assert workers._all == [], "the worker with 'b' in it was stopped"
        again = results(workers, [("d", 0)])[0]
        assert again[0] == "d" and again[1] != first[1]


@pytest.mark.timeout(60)
def test_a_budget_of_0_has_no_limit_and_results_keep_the_input_order():
    with budget.Workers(2) as workers:
        out = results(workers, [(f"f{i}", 0.6 if i % 3 == 0 else 0) for i in range(12)], seconds=0)
    assert [r[0] for r in out] == [f"f{i}" for i in range(12)]


def test_the_shared_worker_is_lent_to_one_caller_at_a_time(monkeypatch):
    monkeypatch.setattr(budget, "_SHARED", [])
    try:
        with budget.shared_worker() as one, budget.shared_worker() as two:
            assert one is not two
        assert len(budget._SHARED) == budget._SHARED_KEEP
        with budget.shared_worker() as again:
            assert again in (one, two)
    finally:
        for w in budget._SHARED:
            w.close()
