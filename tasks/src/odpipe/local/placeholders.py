"""Argo's `{{...}}` placeholders, pod names and workflow names."""

from __future__ import annotations

import re
import uuid

from odpipe.common.errors import InputError
from odpipe.local.errors import UnsupportedArgo

PARAM_RE = re.compile(r"{{\s*([^{}]+?)\s*}}")


def substitute(text: str, values: dict[str, str], where: str) -> str:
    """Replace every `{{name}}` in `text`; an unknown name or an `{{=expr}}` is a named error."""

    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        if key.startswith("="):
            raise UnsupportedArgo(f"{where}: expression {{{{{key}}}}} is outside the supported Argo subset")
        if key not in values:
            raise InputError(f"{where}: {{{{{key}}}}} has no value")
        return values[key]

    return PARAM_RE.sub(repl, text)


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def node_name(workflow: str, task: str, attempt: int | None) -> str:
    """Argo's node name of a DAG task's attempt (`<wf>.<task>(<n>)` when the template retries)."""
    return f"{workflow}.{task}" + (f"({attempt})" if attempt is not None else "")


def pod_name(workflow: str, template: str, node: str) -> str:
    """Argo's pod name: <workflow>-<template>-<fnv32a(node name)>."""
    return f"{workflow}-{template}-{fnv32a(node)}"


def new_workflow_name(base: str) -> str:
    """`generateName`-style: the base and five random characters."""
    return f"{base}-{uuid.uuid4().hex[:5]}"
