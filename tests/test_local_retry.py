"""retryStrategy (odpipe.local.retry): the expression subset and the backoff."""

from __future__ import annotations

import pytest
from odpipe.common.errors import GateFailed, InputError
from odpipe.local.errors import UnsupportedArgo
from odpipe.local.retry import backoff_seconds, max_duration_refusal, parse_duration, retry_allowed

CHART_EXPRESSION = f'lastRetry.exitCode not in ["{InputError.exit_code}", "{GateFailed.exit_code}"]'


def test_the_charts_expression_retries_crashes_and_oom_but_not_bad_input_or_the_gate() -> None:
    assert retry_allowed(CHART_EXPRESSION, 137, "Failed")
    assert retry_allowed(CHART_EXPRESSION, 1, "Failed")
    assert not retry_allowed(CHART_EXPRESSION, InputError.exit_code, "Failed")
    assert not retry_allowed(CHART_EXPRESSION, GateFailed.exit_code, "Failed")


def test_status_and_boolean_operators() -> None:
    assert retry_allowed(None, 2, "Failed")
    assert not retry_allowed('lastRetry.status == "Error" || lastRetry.exitCode == "1"', 3, "Failed")
    assert retry_allowed('lastRetry.status == "Error" && lastRetry.exitCode != "2"', 3, "Error")


@pytest.mark.parametrize("expression", ["__import__('os').system('x')", "lastRetry.exitCode > 1", "a.b()"])
def test_anything_else_is_refused(expression: str) -> None:
    with pytest.raises(UnsupportedArgo, match="outside the supported subset"):
        retry_allowed(expression, 1, "Failed")


def test_go_durations() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration(5) == 5
    with pytest.raises(UnsupportedArgo, match="Go duration"):
        parse_duration("30 seconds")


def test_backoff_grows_by_factor_up_to_its_cap() -> None:
    strategy = {"limit": 5, "backoff": {"duration": "30s", "factor": 2, "cap": "2m"}}
    assert [backoff_seconds(strategy, n) for n in range(1, 5)] == [30, 60, 120, 120]
    assert backoff_seconds({"limit": 2}, 1) == 0


def test_max_duration_counts_from_the_first_attempts_start_as_argo_does() -> None:
    # Argo v4.0.5 (workflow/controller/operator.go): deadline = first child's StartedAt + maxDuration,
    # run time included; past it, or when the backoff would end past it, the step is not retried
    strategy = {"limit": 2, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "10m"}}
    assert max_duration_refusal(strategy, 0.0, 120.0, 30.0) is None
    assert max_duration_refusal(strategy, 0.0, 590.0, 30.0) == "Backoff would exceed max duration limit"
    assert max_duration_refusal(strategy, 0.0, 601.0, 30.0) == "Max duration limit exceeded"
    assert max_duration_refusal({"limit": 2, "backoff": {"duration": "30s"}}, 0.0, 1e6, 30.0) is None
