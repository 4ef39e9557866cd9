"""A semantic lint for rendered WorkflowTemplates: what no JSON schema checks.

Entrypoints and template/templateRef references resolve (across the given WorkflowTemplates), DAG
dependencies exist, `{{tasks.X.outputs.*}}`, `{{inputs.*}}` and `{{workflow.parameters.*}}` references
resolve, required inputs are supplied, volumeMounts have volumes, and no `{{...}}` is broken.
"""

from __future__ import annotations

import re
from typing import Any

EXPR = re.compile(r"{{(.*?)}}", re.S)
KNOWN_ROOTS = ("inputs.", "outputs.", "workflow.", "tasks.", "steps.", "pod.", "item", "retries", "node.", "=")


def _walk_strings(node: Any, path: str = ""):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_strings(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def _templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["spec"].get("templates", [])}


def _depends_names(depends: str) -> set[str]:
    names = set()
    for token in re.split(r"[&|!()\s]+", depends):
        if token:
            names.add(token.split(".")[0])
    return names


def lint(docs: list[dict[str, Any]]) -> list[str]:
    wfts = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "WorkflowTemplate"}
    problems: list[str] = []

    def resolve(owner: str, task: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if "templateRef" in task:
            ref = task["templateRef"]
            target = wfts.get(ref.get("name", ""))
            if target is None:
                problems.append(f"{owner}: templateRef to unknown WorkflowTemplate {ref.get('name')!r}")
                return None
            tpl = _templates(target).get(ref.get("template", ""))
            if tpl is None:
                problems.append(f"{owner}: templateRef {ref['name']}/{ref.get('template')} names no template")
                return None
            return ref["name"], tpl
        name = task.get("template")
        tpl = _templates(wfts[owner.split(":")[0]]).get(name or "")
        if tpl is None:
            problems.append(f"{owner}: template {name!r} not found")
            return None
        return owner.split(":")[0], tpl

    for name, doc in wfts.items():
        spec = doc["spec"]
        templates = _templates(doc)
        wf_params = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
        volumes = {v["name"] for v in spec.get("volumes", [])}
        if spec.get("entrypoint") not in templates:
            problems.append(f"{name}: entrypoint {spec.get('entrypoint')!r} is not a template")
        for tname, tpl in templates.items():
            where = f"{name}:{tname}"
            in_params = {p["name"] for p in tpl.get("inputs", {}).get("parameters", [])}
            in_arts = {a["name"] for a in tpl.get("inputs", {}).get("artifacts", [])}
            for path, text in _walk_strings(tpl):
                if text.count("{{") != text.count("}}"):
                    problems.append(f"{where}{path}: unbalanced braces in {text!r}")
                for expr in EXPR.findall(text):
                    e = expr.strip()
                    if not e.startswith(KNOWN_ROOTS):
                        problems.append(f"{where}{path}: unknown or leftover Helm expression {{{{{expr}}}}}")
                    m = re.fullmatch(r"inputs\.parameters\.([\w-]+)", e)
                    if m and m.group(1) not in in_params:
                        problems.append(f"{where}{path}: {{{{{e}}}}} is not an input parameter of {tname}")
                    m = re.fullmatch(r"inputs\.artifacts\.([\w-]+)", e)
                    if m and m.group(1) not in in_arts:
                        problems.append(f"{where}{path}: {{{{{e}}}}} is not an input artifact of {tname}")
                    m = re.fullmatch(r"workflow\.parameters\.([\w-]+)", e)
                    if m and m.group(1) not in wf_params:
                        problems.append(f"{where}{path}: {{{{{e}}}}} is not a workflow parameter of {name}")
            container = tpl.get("container") or tpl.get("script")
            if container:
                for mount in container.get("volumeMounts", []):
                    if mount["name"] not in volumes:
                        problems.append(f"{where}: volumeMount {mount['name']!r} has no volume in {name}")
            dag = tpl.get("dag")
            if not dag:
                continue
            tasks = {t["name"]: t for t in dag.get("tasks", [])}
            resolved = {t: resolve(f"{name}:{tname}.{t}", task) for t, task in tasks.items()}
            for tn, task in tasks.items():
                where_t = f"{name}:{tname}.{tn}"
                deps = set(task.get("dependencies", [])) | _depends_names(task.get("depends", ""))
                for dep in deps - set(tasks):
                    problems.append(f"{where_t}: depends on unknown task {dep!r}")
                target = resolved[tn]
                if target is None:
                    continue
                ref_wft, ref_tpl = target
                args = task.get("arguments", {})
                given_p = {p["name"] for p in args.get("parameters", [])}
                given_a = {a["name"] for a in args.get("artifacts", [])}
                inputs = ref_tpl.get("inputs", {})
                for p in inputs.get("parameters", []):
                    if "value" not in p and "default" not in p and p["name"] not in given_p:
                        problems.append(f"{where_t}: required input parameter {p['name']!r} not supplied")
                for a in inputs.get("artifacts", []):
                    inline = any(k in a for k in ("s3", "raw", "http", "git", "gcs", "artifactory", "hdfs", "oss"))
                    if not a.get("optional") and not inline and a["name"] not in given_a:
                        problems.append(f"{where_t}: required input artifact {a['name']!r} not supplied")
                for extra in given_p - {p["name"] for p in inputs.get("parameters", [])}:
                    problems.append(f"{where_t}: argument parameter {extra!r} is not an input of the template")
                for extra in given_a - {a["name"] for a in inputs.get("artifacts", [])}:
                    problems.append(f"{where_t}: argument artifact {extra!r} is not an input of the template")
                container = ref_tpl.get("container") or ref_tpl.get("script") or {}
                for mount in container.get("volumeMounts", []):
                    if mount["name"] not in volumes:
                        problems.append(
                            f"{where_t}: {ref_wft} mounts {mount['name']!r}, which {name} lacks as a volume"
                        )
            for path, text in _walk_strings(tpl):
                for expr in EXPR.findall(text):
                    m = re.fullmatch(r"\s*tasks\.([\w-]+)\.outputs\.(artifacts|parameters)\.([\w-]+)\s*", expr)
                    if not m:
                        continue
                    src, kind, out = m.groups()
                    if src not in tasks:
                        problems.append(f"{name}:{tname}{path}: {{{{{expr}}}}} names unknown task {src!r}")
                        continue
                    target = resolved.get(src)
                    if target is None:
                        continue
                    declared = {o["name"] for o in target[1].get("outputs", {}).get(kind, [])}
                    if out not in declared:
                        problems.append(f"{name}:{tname}{path}: task {src} declares no output {kind[:-1]} {out!r}")
    return problems
