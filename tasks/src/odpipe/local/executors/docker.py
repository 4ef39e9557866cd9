"""Run a step in the image its template names, through the Docker Engine API, as a kubelet would:
command/args over ENTRYPOINT/CMD, env with Secret values resolved, runAsUser/runAsGroup/fsGroup,
runAsNonRoot, a read-only root, dropped capabilities, no-new-privileges, seccomp, memory and CPU limits,
size-bounded emptyDirs (tmpfs) and /dev/shm, the datasets volume as a bind mount, host networking (the
S3 server on 127.0.0.1 is reachable). An OOM kill is reported as Argo reports it: exit 137, OOMKilled.
Anything the template asks for that this engine cannot honour is refused with its name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

from odpipe.common.errors import InputError, OdpipeError
from odpipe.local.errors import UnsupportedArgo
from odpipe.local.executors.base import IMAGE_DIGEST_ENV, STATUS_FAILED, STATUS_SUCCEEDED, ContainerRun, ExecResult

OWNER_LABEL = "odpipe.dev/runner-pid"
_SECCOMP = {"RuntimeDefault": None, "Unconfined": "seccomp=unconfined", None: None}


class EngineUnavailable(OdpipeError):
    exit_code = 2


def docker_client() -> Any:
    """A client for the engine DOCKER_HOST (or the default socket) names; a named error when none answers."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - the [local] extra installs it
        raise EngineUnavailable("--engine docker needs the `docker` package: install odpipe[local]") from exc
    try:
        client = docker.from_env(version="auto", timeout=120)
        client.ping()
    except Exception as exc:  # the client raises several unrelated types for "no engine"
        raise EngineUnavailable(
            f"--engine docker: no Docker Engine answers ({exc.__class__.__name__}: {exc}); start one "
            "(as root on Debian: tools/start-dockerd.sh) or use --engine process"
        ) from exc
    return client


def _share_with_group(path: Path, gid: int) -> None:
    """What the kubelet does for fsGroup: the volume's files belong to the group, group-writable, and
    new files inherit the group (setgid folders)."""
    for current, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            _chgrp(Path(current) / name, gid)
    _chgrp(path, gid)


def _chgrp(path: Path, gid: int) -> None:
    try:
        st = path.lstat()
        if path.is_symlink():
            return
        if st.st_gid != gid:
            os.chown(path, -1, gid)
        mode = st.st_mode | 0o060 | (0o2010 if path.is_dir() else 0)
        if mode != st.st_mode:
            os.chmod(path, mode & 0o7777)
    except PermissionError:
        # not root: make it writable for the container's user another way
        os.chmod(path, path.stat().st_mode | (0o777 if path.is_dir() else 0o666))


class DockerExecutor:
    name = "docker"

    def __init__(self, client: Any | None = None) -> None:
        self.client = client or docker_client()
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Containers of an earlier `odpipe run` that was killed: its steps must not outlive it."""
        for container in self.client.containers.list(all=True, filters={"label": OWNER_LABEL}):
            pid = int(container.labels.get(OWNER_LABEL, "0") or 0)
            if pid and not _alive(pid):
                container.remove(force=True)

    def check(self, run: ContainerRun) -> None:
        check_supported(run)

    def _image(self, run: ContainerRun) -> Any:
        import docker.errors

        try:
            image = self.client.images.get(run.image)
        except docker.errors.ImageNotFound:
            image = None
        if image is None or run.image_pull_policy == "Always":
            try:
                image = self.client.images.pull(run.image)
            except docker.errors.APIError as exc:
                raise InputError(
                    f"pod {run.pod}: image {run.image} is not on this engine and cannot be pulled "
                    f"({exc.explanation or exc}); build it with `make images`"
                ) from exc
        if run.security.run_as_non_root and run.security.run_as_user is None:
            user = (image.attrs.get("Config") or {}).get("User") or "0"
            if not user.split(":")[0].isdigit() or user.split(":")[0] == "0":
                raise InputError(
                    f"pod {run.pod}: runAsNonRoot is set and image {run.image} runs as {user!r} "
                    "(not a numeric non-root user)"
                )
        return image

    def _prepare_volumes(self, run: ContainerRun) -> None:
        gid = run.security.fs_group
        for mount in run.bind_mounts:
            staged = mount.source.is_relative_to(run.sandbox)  # staged artifacts and emptyDirs
            if staged and not mount.read_only:
                mount.source.mkdir(parents=True, exist_ok=True)  # an emptyDir
            if gid is None or not mount.source.exists() or (mount.read_only and not staged):
                continue  # a read-only host folder (local images) is left as its owner set it
            _share_with_group(mount.source, gid)

    def run(self, run: ContainerRun) -> ExecResult:
        import docker.errors

        self.check(run)
        image = self._image(run)
        if not run.env.get(IMAGE_DIGEST_ENV):  # record what actually ran: the local image's content id
            run = dataclasses.replace(run, env={**run.env, IMAGE_DIGEST_ENV: image.id})
        self._prepare_volumes(run)
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(run.pod).remove(force=True)  # a resumed run reuses pod names
        try:
            container = self.client.containers.create(**create_args(run, os.getpid()))
        except docker.errors.APIError as exc:
            raise InputError(f"pod {run.pod}: the engine refused the container: {exc.explanation or exc}") from exc
        try:
            return self._wait(container, run)
        finally:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)

    def _wait(self, container: Any, run: ContainerRun) -> ExecResult:
        container.start()
        pump = threading.Thread(target=_pump_logs, args=(container, run.log_path), daemon=True)
        pump.start()
        deadline_hit = False
        try:
            status = container.wait(timeout=run.deadline_seconds) if run.deadline_seconds else container.wait()
        except Exception:  # requests' ReadTimeout: the deadline passed
            deadline_hit = True
            container.kill()
            status = container.wait()
        pump.join(timeout=30)
        container.reload()
        state = container.attrs["State"]
        code = int(status.get("StatusCode", state.get("ExitCode", 1)))
        if deadline_hit:
            return ExecResult(code or 137, STATUS_FAILED, "DeadlineExceeded",
                              f"step ran past activeDeadlineSeconds={run.deadline_seconds:g}")  # fmt: skip
        if state.get("OOMKilled"):
            return ExecResult(137, STATUS_FAILED, "OOMKilled", "OOMKilled (exit code 137)")
        if code == 0:
            return ExecResult(0, STATUS_SUCCEEDED, "Completed")
        return ExecResult(code, STATUS_FAILED, "Error", f"Error (exit code {code})")


def check_supported(run: ContainerRun) -> None:
    """Refuse, by name, what a docker engine on one machine cannot honour."""
    where = f"pod {run.pod}"
    if not run.image:
        raise UnsupportedArgo(f"{where}: container without image")
    if run.extended_resources:
        raise UnsupportedArgo(
            f"{where}: resources {sorted(run.extended_resources)} cannot be honoured by the docker engine "
            "(no device plugin here); render without them (e.g. tasks.train.gpu.enabled=false)"
        )
    if run.scheduling:
        raise UnsupportedArgo(
            f"{where}: {list(run.scheduling)} cannot be honoured by the docker engine (one local node)"
        )
    sec = run.security
    if sec.privileged or sec.add_capabilities:
        raise UnsupportedArgo(f"{where}: privileged containers and added capabilities are refused")
    if sec.run_as_non_root and sec.run_as_user == 0:
        raise InputError(f"{where}: runAsNonRoot is set but runAsUser is 0 (CreateContainerConfigError)")


def create_args(run: ContainerRun, owner_pid: int) -> dict[str, Any]:
    """The Engine API container-create arguments that reproduce the pod spec."""
    from docker.types import Mount

    sec, res = run.security, run.resources
    user = None
    if sec.run_as_user is not None:
        user = str(sec.run_as_user) + (f":{sec.run_as_group}" if sec.run_as_group is not None else "")
    groups = [str(g) for g in (sec.fs_group, *sec.supplemental_groups) if g is not None]
    security_opt = []
    if not sec.allow_privilege_escalation:
        security_opt.append("no-new-privileges:true")
    if _SECCOMP[sec.seccomp]:
        security_opt.append(_SECCOMP[sec.seccomp])
    shm = next((m for m in run.memory_mounts if m.target == "/dev/shm"), None)
    tmpfs = {
        m.target: "rw,nosuid,nodev,mode=1777" + (f",size={m.size_bytes}" if m.size_bytes else "")
        for m in run.memory_mounts
        if m.target != "/dev/shm"
    }
    args: dict[str, Any] = {
        "image": run.image,
        "entrypoint": run.command or None,
        "command": run.args or None,
        "environment": run.env,
        "user": user,
        "group_add": groups or None,
        "working_dir": run.working_dir,
        "read_only": sec.read_only_root,
        "cap_drop": list(sec.drop_capabilities) or None,
        "security_opt": security_opt or None,
        "mounts": [
            Mount(m.target, str(m.source.resolve()), type="bind", read_only=m.read_only)
            for m in run.bind_mounts
            if m.source.exists()
        ],
        "tmpfs": tmpfs or None,
        "shm_size": shm.size_bytes if shm and shm.size_bytes else None,
        "network_mode": "host",
        "labels": {**run.labels, OWNER_LABEL: str(owner_pid)},
        "name": run.pod,
        "detach": True,
    }
    if res.memory_limit:
        args["mem_limit"] = res.memory_limit
        args["memswap_limit"] = res.memory_limit  # no swap, as on a kubelet
    if res.cpu_limit:
        args["nano_cpus"] = int(res.cpu_limit * 1e9)
    if res.cpu_request:
        args["cpu_shares"] = max(2, int(res.cpu_request * 1024))
    return args


def _pump_logs(container: Any, path: Path) -> None:
    with path.open("ab") as log:
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            log.write(chunk)
            log.flush()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
