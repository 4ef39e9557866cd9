"""Argo's retryStrategy: whether a failed attempt is retried, and how long to wait first."""

from __future__ import annotations

import ast
import re
from typing import Any

from odpipe.local.errors import UnsupportedArgo

_EXPR_OK = re.compile(r"^[\w\s.\"'\[\],=!()-]*$")
_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.In,
    ast.NotIn,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Load,
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def retry_allowed(expression: str | None, exit_code: int, status: str) -> bool:
    """Evaluate retryStrategy.expression for one failed attempt (`lastRetry.exitCode`/`.status`
    compared with `==`, `!=`, `in`, `not in`, joined with `and`/`or`/`&&`/`||`)."""
    if not expression:
        return True
    text = expression.replace("lastRetry.exitCode", repr(str(exit_code))).replace("lastRetry.status", repr(status))
    text = text.replace("&&", " and ").replace("||", " or ")
    if not _EXPR_OK.match(text):
        raise UnsupportedArgo(f"retryStrategy.expression {expression!r} is outside the supported subset")
    tree = ast.parse(text, mode="eval")
    if not all(isinstance(node, _ALLOWED_NODES) for node in ast.walk(tree)):
        raise UnsupportedArgo(f"retryStrategy.expression {expression!r} is outside the supported subset")
    return bool(eval(compile(tree, "<retryStrategy>", "eval"), {"__builtins__": {}}, {}))


def parse_duration(text: str | int | float) -> float:
    """A Go duration ("30s", "1m30s", "500ms") or a number of seconds, in seconds."""
    if isinstance(text, int | float):
        return float(text)
    value = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise UnsupportedArgo(f"retryStrategy.backoff duration {text!r}: expected a Go duration such as 30s or 2m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def backoff_seconds(strategy: dict[str, Any], retry: int) -> float:
    """Seconds to wait before retry number `retry` (1-based): duration * factor^(retry-1), at most `cap`."""
    backoff = strategy.get("backoff") or {}
    if not backoff.get("duration"):
        return 0.0
    wait = parse_duration(backoff["duration"]) * float(backoff.get("factor", 1) or 1) ** (retry - 1)
    if backoff.get("cap"):
        wait = min(wait, parse_duration(backoff["cap"]))
    return wait


def max_duration_refusal(strategy: dict[str, Any], first_started: float, now: float, wait: float) -> str | None:
    """Argo's reason not to retry under `backoff.maxDuration`, or None. Its clock starts when the step's first
    attempt started, run time included: a step that ran longer is never retried."""
    limit = (strategy.get("backoff") or {}).get("maxDuration")
    if not limit:
        return None
    deadline = first_started + parse_duration(limit)
    if now > deadline:
        return "Max duration limit exceeded"
    if now + wait > deadline:
        return "Backoff would exceed max duration limit"
    return None
