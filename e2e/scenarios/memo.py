"""Left running: a second identical submit reuses train (Argo's memoize: no train pod) and export-deploy
publishes nothing ("unchanged, version N"); a changed parameter trains; deleting a workflow collects its
artifacts (artifactGC) but not the models; and the next identical run, its cache entry's weights gone,
has the entry dropped by check-inputs (prepare runs it first) and trains again instead of failing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .kube import Target, argo, k, kjson, list_objects, objects, s3
from .summary import Report
from .workflows import submit


def train_node(wf: dict[str, Any]) -> dict[str, Any]:
    """The train task's node: train-memoized, a DAG node (memoized; a hit has no children)."""
    nodes = [n for n in wf["status"]["nodes"].values() if n.get("displayName") == "train" and n["type"] == "DAG"]
    if len(nodes) != 1:
        raise RuntimeError(f"{wf['metadata']['name']}: {len(nodes)} train nodes")
    return dict(nodes[0])


def memo_hit(wf: dict[str, Any]) -> bool:
    return bool(train_node(wf).get("memoizationStatus", {}).get("hit"))


def train_pods(wf: dict[str, Any]) -> list[str]:
    nodes = wf["status"]["nodes"].values()
    return [n["id"] for n in nodes if n["type"] == "Pod" and n["displayName"].startswith("train")]


def output(wf: dict[str, Any], name: str) -> str:
    root = wf["status"]["nodes"][wf["metadata"]["name"]]
    return str(next(p["value"] for p in root["outputs"]["parameters"] if p["name"] == name))


def step_log(target: Target, wf: dict[str, Any], step: str) -> str:
    """A step's log as Argo archived it (its pod is gone: podGC)."""
    pods = [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod" and n["displayName"].startswith(step)]
    pod = max(pods, key=lambda n: n.get("startedAt") or "")  # the last attempt: "<step>(1)" after "<step>(0)"
    with s3(target) as client:
        listed = list_objects(client, "argo-artifacts", f"{wf['metadata']['name']}/")
        keys = [key for key in listed if key.endswith(".log")]
        key = next((key for key in keys if pod["id"].rsplit("-", 1)[-1] in key and step in key), None)
        if key is None:
            raise RuntimeError(f"no archived log of {step} among {keys}")
        return str(client.get_object(Bucket="argo-artifacts", Key=key)["Body"].read().decode())


def check_memoized(r: Report, target: Target, first: dict[str, Any], name: str, params: dict[str, str]) -> None:
    """The same dataset and parameters again: no train pod, the same model version, no new model object."""
    with r.step("argo submit, same dataset and parameters: train memoized, export-deploy unchanged") as note:
        models = objects(target, "models")
        wf = submit(target, name, params)
        version, before = output(wf, "model-version"), output(first, "model-version")
        log = step_log(target, wf, "export-deploy")
        problems = []
        if not memo_hit(wf) or train_pods(wf):
            problems.append(f"train not memoized: {train_node(wf).get('memoizationStatus')}, pods {train_pods(wf)}")
        if version != before or f"unchanged, version {before}" not in log:
            problems.append(f"export-deploy gave version {version} (first run {before}): {log[-500:]}")
        if objects(target, "models") != models:
            problems.append("a model object was added")
        if problems:
            raise RuntimeError("; ".join(problems))
        ratio = wf["_wall"] / first["_wall"]
        key = train_node(wf)["memoizationStatus"]["key"]
        r.facts["memoized run"] = {"first s": round(first["_wall"], 1), "memoized s": round(wf["_wall"], 1),
                                   "ratio": round(ratio, 2), "key": key}  # fmt: skip
        note[""] = f"{wf['_wall']:.0f} s against {first['_wall']:.0f} s ({ratio:.2f}x), version {version} unchanged"


def check_collected(r: Report, target: Target, trained: dict[str, Any], name: str, params: dict[str, str],
                    controller_ns: str, during: Callable[[str], str] | None = None) -> None:  # fmt: skip
    """Delete the workflow that trained: its prefix in argo-artifacts goes, models/ stays; the cache entry
    that named its weights is dropped by the next identical run's check-inputs, which then trains (with
    `during`, a fault, beside it)."""
    wf_name = trained["metadata"]["name"]
    status = train_node(trained)["memoizationStatus"]
    with r.step(f"argo delete {wf_name}: its artifacts are collected, the models stay") as note:
        models = objects(target, "models")
        before = objects(target, "argo-artifacts", f"{wf_name}/")
        argo("delete", "-n", target.namespace, wf_name)
        k("-n", target.namespace, "wait", "--for=delete", f"workflow/{wf_name}", "--timeout=180s")
        left = wait_collected(target, f"{wf_name}/", 120)
        # Argo's S3 delete removes the object at an artifact's key: a folder stored file by file (the
        # reports' pictures, archive none) keeps its files, though the GC task reports success
        pictures = [key for key in left if "-report-files/" in key]
        if len(pictures) != len(left) or objects(target, "models") != models:
            raise RuntimeError(f"after deleting {wf_name}: {sorted(set(left) - set(pictures))[:5]} left, "
                               f"models changed: {objects(target, 'models') != models}")  # fmt: skip
        entry = cache_entry(controller_ns, status["cacheName"], status["key"])
        stale = [a["s3"]["key"] for a in entry["outputs"]["artifacts"] if a["s3"]["key"].startswith(f"{wf_name}/")]
        r.facts["collected"] = {"workflow": wf_name, "artifacts deleted": len(before) - len(left),
                                "report picture files Argo's GC leaves": len(pictures), "models kept": len(models),
                                "cache entry naming deleted weights": len(stale)}  # fmt: skip
        note[""] = (f"{len(before) - len(left)} artifacts deleted ({len(pictures)} report picture files left by "
                    f"Argo), {len(models)} model objects kept; the cache entry names {len(stale)} deleted")  # fmt: skip
    with r.step("the same run again: prepare's check-inputs drops the entry whose weights were collected, "
                "train runs") as note:  # fmt: skip
        wf = submit(target, name, params, during=during)
        log = step_log(target, wf, "prepare")
        if memo_hit(wf) or not train_pods(wf) or f"dropped entry {status['key']}" not in log:
            raise RuntimeError(f"{name}: memo hit {memo_hit(wf)}, train pods {train_pods(wf)}; "
                               f"prepare (check-inputs): {log[-600:]}")  # fmt: skip
        entry = cache_entry(controller_ns, status["cacheName"], status["key"])
        keys = [a["s3"]["key"] for a in entry["outputs"]["artifacts"]]
        if not all(key.startswith(f"{name}/") for key in keys):
            raise RuntimeError(f"the cache entry names {keys}, not {name}'s artifacts")
        r.facts["collected"]["retrained"] = {"workflow": name, "seconds": round(wf["_wall"], 1)}
        fault = f"; {wf['_during']}" if during else ""
        note[""] = f"{wf['_wall']:.0f} s; the entry now names {name}'s weights{fault}"
    with r.step(f"that run's check-inputs (in prepare) swept the picture folders Argo's GC left of {wf_name}") as note:
        left = objects(target, "argo-artifacts", f"{wf_name}/")
        swept = [line for line in log.splitlines() if line.startswith("report pictures:")]
        if left or not swept:
            raise RuntimeError(f"{wf_name}: {len(left)} objects left ({sorted(left)[:3]}); check-inputs: {swept}")
        r.facts["collected"]["swept"] = swept[0]
        note[""] = f"nothing left under {wf_name}/; {swept[0]}"


def cache_entry(namespace: str, configmap: str, key: str) -> dict[str, Any]:
    cache = kjson("-n", namespace, "get", "configmap", configmap)
    return dict(json.loads(cache["data"][key]))


def wait_collected(target: Target, prefix: str, timeout: float) -> dict[str, int]:
    """What is left under the prefix once only report picture files remain (or the time is up)."""
    deadline = time.monotonic() + timeout
    left = objects(target, "argo-artifacts", prefix)
    while any("-report-files/" not in key for key in left) and time.monotonic() < deadline:
        time.sleep(3)
        left = objects(target, "argo-artifacts", prefix)
    return left
