"""A step's pod as a kubelet would see it: the template's container, volumes, securityContext and
resources resolved into a ContainerRun. Fields outside what the runner implements are named errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe.common.errors import InputError
from odpipe.local.errors import UnsupportedArgo
from odpipe.local.executors.base import BindMount, ContainerRun, MemoryMount, Resources, Security
from odpipe.local.placeholders import substitute
from odpipe.local.staging import sandbox_path

_CONTAINER_FIELDS = frozenset(
    {"name", "image", "imagePullPolicy", "command", "args", "env", "resources", "securityContext",
     "terminationMessagePolicy", "volumeMounts", "workingDir"}
)  # fmt: skip
_POD_SECURITY = frozenset(
    {"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "fsGroupChangePolicy", "supplementalGroups",
     "seccompProfile"}
)  # fmt: skip
_CONTAINER_SECURITY = frozenset(
    {"runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
     "privileged", "capabilities", "seccompProfile"}
)  # fmt: skip
_SCHEDULING = ("nodeSelector", "tolerations", "affinity", "priorityClassName", "schedulerName")
_BINARY_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 1e-3}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$")


def quantity(value: str | int | float, where: str) -> float:
    """A Kubernetes quantity ("16Gi", "500m", "2", "1e3" is not supported) as a number."""
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise InputError(f"{where}: {value!r} is not a Kubernetes quantity")
    number, suffix = float(m.group(1)), m.group(2)
    if suffix in _BINARY_SUFFIX:
        return number * _BINARY_SUFFIX[suffix]
    if suffix in _DECIMAL_SUFFIX:
        return number * _DECIMAL_SUFFIX[suffix]
    raise InputError(f"{where}: {value!r} has an unknown suffix {suffix!r}")


def _security(pod: dict[str, Any], container: dict[str, Any], where: str) -> Security:
    for fields, ctx, what in (
        (_POD_SECURITY, pod, "securityContext"),
        (_CONTAINER_SECURITY, container, "container.securityContext"),
    ):
        extra = set(ctx) - fields
        if extra:
            raise UnsupportedArgo(f"{where}: {what} {sorted(extra)} not implemented by odpipe run")
    merged = {**pod, **container}
    seccomp = (merged.get("seccompProfile") or {}).get("type")
    if seccomp not in (None, "RuntimeDefault", "Unconfined"):
        raise UnsupportedArgo(f"{where}: seccompProfile type {seccomp!r} (only RuntimeDefault and Unconfined)")
    caps = container.get("capabilities") or {}
    return Security(
        run_as_user=merged.get("runAsUser"),
        run_as_group=merged.get("runAsGroup"),
        fs_group=pod.get("fsGroup"),
        supplemental_groups=tuple(pod.get("supplementalGroups") or ()),
        run_as_non_root=bool(merged.get("runAsNonRoot", False)),
        read_only_root=bool(container.get("readOnlyRootFilesystem", False)),
        allow_privilege_escalation=bool(container.get("allowPrivilegeEscalation", True)),
        privileged=bool(container.get("privileged", False)),
        drop_capabilities=tuple(caps.get("drop") or ()),
        add_capabilities=tuple(caps.get("add") or ()),
        seccomp=seccomp,
    )


def _resources(spec: dict[str, Any], where: str) -> tuple[Resources, dict[str, str]]:
    limits, requests = spec.get("limits") or {}, spec.get("requests") or {}
    extended = {k: str(v) for k, v in {**requests, **limits}.items() if k not in ("cpu", "memory", "ephemeral-storage")}

    def get(d: dict[str, Any], key: str) -> float | None:
        return quantity(d[key], f"{where} resources {key}") if key in d else None

    memory_limit, memory_request = get(limits, "memory"), get(requests, "memory")
    return (
        Resources(
            memory_limit=int(memory_limit) if memory_limit else None,
            cpu_limit=get(limits, "cpu"),
            cpu_request=get(requests, "cpu"),
            memory_request=int(memory_request) if memory_request else None,
        ),
        extended,
    )


@dataclass(frozen=True)
class PodContext:
    """What the workflow gives every pod: its volumes, the datasets volume's folder, the Secret's values."""

    volumes: dict[str, dict[str, Any]]
    data_dir: Path
    secrets: dict[tuple[str, str], str]
    extra_mounts: tuple[BindMount, ...] = ()


def _env(container: dict[str, Any], scope: dict[str, str], ctx: PodContext, where: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = substitute(str(e["value"]), scope, f"{where} env {e['name']}")
        elif "secretKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["secretKeyRef"]
            if (ref["name"], ref["key"]) not in ctx.secrets:
                raise InputError(f"{where}: env {e['name']} refers to Secret {ref['name']}/{ref['key']}, unknown here")
            env[e["name"]] = ctx.secrets[(ref["name"], ref["key"])]
        else:
            raise UnsupportedArgo(f"{where}: env {e['name']}: only value and secretKeyRef are supported")
    return env


def _mounts(
    container: dict[str, Any], template: dict[str, Any], ctx: PodContext, sandbox: Path, where: str
) -> tuple[list[BindMount], list[MemoryMount]]:
    binds: list[BindMount] = []
    memory: list[MemoryMount] = []
    for mount in container.get("volumeMounts", []):
        volume = ctx.volumes.get(mount["name"])
        if volume is None:
            raise InputError(f"{where}: volumeMount {mount['name']!r} has no volume in the workflow")
        extra = set(mount) - {"name", "mountPath", "readOnly"}
        if extra:
            raise UnsupportedArgo(f"{where}: volumeMount {mount['name']} {sorted(extra)} not implemented")
        target, read_only = mount["mountPath"], bool(mount.get("readOnly", False))
        if "persistentVolumeClaim" in volume:
            binds.append(BindMount(ctx.data_dir, target, read_only))
        elif "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            size = empty.get("sizeLimit")
            if empty.get("medium") == "Memory" or size:
                limit = int(quantity(size, f"{where} volume {mount['name']} sizeLimit")) if size else None
                memory.append(MemoryMount(target, limit))
            else:
                binds.append(BindMount(sandbox_path(sandbox, target), target, read_only))
        else:
            raise UnsupportedArgo(
                f"{where}: volume {mount['name']}: only persistentVolumeClaim and emptyDir run locally"
            )
    for art in template.get("inputs", {}).get("artifacts", []):
        binds.append(BindMount(sandbox_path(sandbox, art["path"]), art["path"], read_only=True))
    return binds, memory


def container_run(
    template: dict[str, Any], scope: dict[str, str], ctx: PodContext, pod: str, sandbox: Path, log_path: Path
) -> ContainerRun:
    """Resolve one attempt of a container template (placeholders from `scope`)."""
    container = template["container"]
    where = f"template {template['name']} (pod {pod})"
    extra = set(container) - _CONTAINER_FIELDS
    if extra:
        raise UnsupportedArgo(f"{where}: container {sorted(extra)} not implemented by odpipe run")
    security = _security(template.get("securityContext") or {}, container.get("securityContext") or {}, where)
    command = [substitute(str(a), scope, f"{where} command") for a in container.get("command", [])]
    args = [substitute(str(a), scope, f"{where} args") for a in container.get("args", [])]
    binds, memory = _mounts(container, template, ctx, sandbox, where)
    resources, extended = _resources(container.get("resources") or {}, where)
    return ContainerRun(
        pod=pod,
        image=str(container.get("image", "")),
        image_pull_policy=str(container.get("imagePullPolicy", "IfNotPresent")),
        command=command,
        args=args,
        env=_env(container, scope, ctx, where),
        working_dir=container.get("workingDir"),
        sandbox=sandbox,
        bind_mounts=(*binds, *ctx.extra_mounts),
        memory_mounts=tuple(memory),
        security=security,
        resources=resources,
        deadline_seconds=float(template["activeDeadlineSeconds"]) if template.get("activeDeadlineSeconds") else None,
        log_path=log_path,
        labels={"odpipe.dev/pod": pod},
        extended_resources=extended,
        scheduling=tuple(k for k in _SCHEDULING if template.get(k)),
    )
