"""python -m e2e.cluster: the one-node cluster's lifecycle (build, up, down, status, load-images); the scenarios
that run on it are `python -m e2e.scenarios`."""

from __future__ import annotations

import time

import typer
from rich.console import Console

from . import components as c

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()


def say(msg: str) -> None:
    console.print(msg, markup=False, highlight=False)


@app.command()
def build() -> None:
    """Build every component from its Go module into the cache (skips what is cached)."""
    for name, seconds in c.build_all(say).items():
        say(f"{name}: {f'built in {seconds:.0f} s' if seconds else 'cached'}")


@app.command()
def up() -> None:
    """Start the cluster from scratch inside its network namespace (builds what is missing)."""
    from .layout import KUBECONFIG, LOCAL
    from .up import up as start

    started = time.monotonic()
    times = start(say)
    if times:
        say("actions: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items() if v >= 0.5))
    seconds = time.monotonic() - started
    say(f"cluster ready in {seconds:.0f} s: Kubernetes {c.KUBERNETES.version}, kubeconfig {KUBECONFIG}")
    say(f"look around: {LOCAL}/bin/kubectl get pods -A   ({LOCAL}/bin/helm, {LOCAL}/bin/argo likewise)")


@app.command()
def restart() -> None:
    """Reboot the node: stop everything as `down` does, then start again keeping etcd, the PKI and the volumes."""
    from .up import restart as reboot

    times = reboot(say)
    say("restarted: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items() if v >= 0.5))


@app.command()
def down() -> None:
    """Stop the cluster; fails when anything (process, mount, namespace, cgroup) is left behind."""
    from .down import down as stop

    if stop(say):
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """What runs, and what a `down` would have to clean."""
    from . import processes as p
    from .down import DAEMONS, leftovers

    for name in (*DAEMONS, "containerd"):
        pid = p.running(name)
        say(f"{name:24} {f'pid {pid}' if pid else 'stopped'}")
    left = leftovers()
    say("leftovers: " + ("; ".join(left) if left else "none"))


@app.command("load-images")
def load_images(
    refs: list[str] = typer.Argument(
        None, help="Docker images to load (default: the task images of .build/images.env)."
    ),
) -> None:
    """Import images from the local Docker engine (make images) into the node's containerd."""
    from . import netns, store
    from .images import load_docker_image, task_images

    if not netns.exists():
        say("no cluster is up: nothing to load into")
        raise typer.Exit(1)
    for ref in refs or list(task_images().values()):
        started = time.monotonic()
        loaded = load_docker_image(ref, log=say)
        say(f"{ref}: {'loaded in %.0f s' % (time.monotonic() - started) if loaded else 'already in the node'}")
    say(store.usage())


if __name__ == "__main__":
    app()
