"""The Ray side: the embedded local instance, one actor per ComfyUI server, and the run loop.

Ray does the placement (an actor asks for one GPU, or one CPU where there is none, and Ray puts
it on a node that has it), the restarts (``max_restarts``: an actor whose server died is started
again, with a fresh server) and the retries (``max_task_retries``: the task it was running runs
again on the restarted actor). The run loop only hands each idle actor the next task and collects
results with ``ray.wait``.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
#: how often Ray restarts a worker whose server died, and re-runs the task it was running
MAX_RESTARTS = 3
MAX_TASK_RETRIES = 3
#: seconds between a worker's looks at its server's /history (adds half of it, on average, per task)
POLL_S = 0.05


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SystemExit("the cluster room needs Ray: pip install -r cluster/requirements.txt") from None
    return ray


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None, num_gpus: Optional[int] = None,
              temp_dir: Optional[str] = None):
    """Join the cluster at ``address``, or (None) start an embedded Ray instance on this machine that
    listens on 127.0.0.1 only, with no dashboard. Every worker process gets this repo on its path
    (on other machines the pack must sit at the same path: it is also the servers' custom node)."""
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": os.environ.get(
                                    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "1")}}
    if address is None:
        # Ray takes a loopback node address only where it thinks clusters are unsupported; this
        # switch makes every Ray server of the embedded instance bind 127.0.0.1 (checked in the tests)
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        runtime_env["env_vars"]["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        ray = _import_ray()
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False  # when ray was imported before
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 log_to_driver=False, runtime_env=runtime_env, _temp_dir=temp_dir,
                 configure_logging=True, logging_level="WARNING")
    else:
        ray = _import_ray()
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level="WARNING")
    return ray


# -- the worker actor -------------------------------------------------------------------------------
class ComfyWorker:
    """One ComfyUI server: started here from ``spec["comfy"]`` (the user's ComfyUI folder; the pack
    must be in its custom_nodes) or ``spec["base_dir"]`` (a prepared base directory), on the GPU Ray
    gave this actor (``--cpu`` where it gave none), on a free loopback port; or attached to
    ``spec["url"]``. Made a Ray actor by :func:`make_workers`."""

    def __init__(self, name: str, spec: Dict[str, Any]):
        import ray
        from scripts.host import ComfyHost
        self.name, self.spec = name, spec
        ctx = ray.get_runtime_context()
        self.incarnation = 1 + int(bool(ctx.was_current_actor_reconstructed))
        self.node = ctx.get_node_id()
        self.state: Optional[Path] = None
        if spec.get("url"):
            self.host = ComfyHost.attach(spec["url"], timeout=float(spec.get("timeout", 60)))
        else:
            gpus = ray.get_gpu_ids()
            cpu = bool(spec.get("cpu")) or not gpus
            state = Path(spec.get("state_root") or tempfile.gettempdir()) / f"ns_cluster_{name}-{uuid.uuid4().hex[:6]}"
            self.state = state
            self.host = ComfyHost.start(spec.get("base_dir"), cpu=cpu, comfy=spec.get("comfy"),
                                        python=spec.get("python") or sys.executable, state_dir=state,
                                        extra_args=tuple(spec.get("extra_args", ())), die_with_parent=True,
                                        timeout=float(spec.get("timeout", 300)))
        self.tasks = 0

    def info(self) -> Dict[str, Any]:
        return {"name": self.name, "url": self.host.url, "pid": self.host.proc.pid if self.host.proc else None,
                "incarnation": self.incarnation, "node": self.node, "tasks": self.tasks, "worker_pid": os.getpid()}

    def run(self, task: Dict[str, Any]) -> Dict[str, Any]:
        """Run one API workflow; return its outputs, the saved files of ``task["fetch"]`` nodes, and
        the time. A prompt the server refuses or fails is an error result with the server's message;
        a server that is gone ends this actor, so Ray restarts it and runs the task again."""
        t0 = time.time()
        res = {"key": task["key"], "server": self.name, "incarnation": self.incarnation}
        try:
            entry = self.host.wait(self.host.queue(task["workflow"]), timeout=float(task.get("timeout", 3600)),
                                   poll=POLL_S)
            outputs = entry["outputs"]
            files: Dict[str, List[Dict[str, Any]]] = {}
            for nid in task.get("fetch", ()):
                out = outputs.get(nid, {})
                for kind in ("images", "latents"):
                    for item in out.get(kind, []):
                        files.setdefault(nid, []).append({"kind": kind, "filename": item["filename"],
                                                          "data": self.host.view(item)})
                        self._forget(item)
        except Exception as e:  # noqa: BLE001 - sorted below: the input's fault, or the server's
            if not self.host.alive():
                self._die(e)
            self.tasks += 1
            return {**res, "ok": False, "error": str(e), "seconds": time.time() - t0}
        self.tasks += 1
        ts = {k: d.get("timestamp") for k, d in entry.get("status", {}).get("messages", [])}
        server_s = ((ts["execution_success"] - ts["execution_start"]) / 1000.0
                    if ts.get("execution_start") is not None and ts.get("execution_success") is not None else None)
        return {**res, "ok": True, "outputs": outputs, "files": files, "seconds": time.time() - t0,
                "server_seconds": server_s}

    def object_info(self) -> Dict[str, Any]:
        """The server's /object_info (node inputs and their defaults)."""
        return self.host.get("/object_info", timeout=120)

    def _forget(self, item: Dict[str, Any]) -> None:
        """Delete a file this worker's own server saved, once it is on its way to the driver (the
        driver's output folder keeps it; a long run does not fill the disk twice)."""
        if self.state is None or item.get("type", "output") != "output":
            return
        try:
            (self.state / "output" / item.get("subfolder", "") / item["filename"]).unlink()
        except OSError:
            pass

    def _die(self, why: BaseException):
        sys.stderr.write(f"[cluster] {self.name}: server gone ({type(why).__name__}: {why}); restarting\n")
        sys.stderr.flush()
        self.stop()
        os._exit(1)  # an unexpected exit: Ray restarts the actor and re-runs its task (max_task_retries)

    def interrupt(self) -> bool:
        """Stop the server's running prompt and clear its queue (Ctrl-C on the driver)."""
        try:
            self.host.post("/queue", {"clear": True}, timeout=5)
            self.host.interrupt()
            return True
        except Exception:  # noqa: BLE001
            return False

    def stop(self) -> None:
        self.host.stop()
        if self.state is not None:
            import shutil
            shutil.rmtree(self.state, ignore_errors=True)


def actor_class(ray):
    return ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
                      concurrency_groups={"control": 1})(_with_control(ComfyWorker, ray))


def _with_control(cls, ray):
    """``info`` / ``interrupt`` / ``stop`` in their own concurrency group, so they answer while
    ``run`` is busy."""
    class Worker(cls):
        @ray.method(concurrency_group="control")
        def info(self):
            return super().info()

        @ray.method(concurrency_group="control")
        def interrupt(self):
            return super().interrupt()

        @ray.method(concurrency_group="control")
        def stop(self):
            return super().stop()
    Worker.__name__ = Worker.__qualname__ = "ComfyWorker"
    return Worker


@dataclass
class Pool:
    """The workers of one run: ``handles`` (Ray actors) and their names."""
    handles: List[Any]
    names: List[str]
    ray: Any = None
    own_ray: bool = False
    infos: List[Dict[str, Any]] = field(default_factory=list)
    cleanup: List[Callable[[], None]] = field(default_factory=list)

    def close(self):
        ray = self.ray
        for h in self.handles:
            try:
                ray.get(h.stop.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - already gone
                pass
            try:
                ray.kill(h, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        if self.own_ray:
            ray.shutdown()
        for fn in self.cleanup:
            fn()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_workers(ray, servers: Optional[int] = None, urls: Sequence[str] = (), spec: Optional[Dict[str, Any]] = None,
                 own_ray: bool = False, start_timeout: float = 600) -> Pool:
    """One actor per server: one per URL given, else ``servers`` (default: one per GPU in the
    cluster, or one where there is none). Each asks Ray for a GPU when the cluster has GPUs (and
    ``spec["cpu"]`` is not set), else for one CPU."""
    spec = dict(spec or {})
    Actor = actor_class(ray)
    handles, names = [], []
    if urls:
        for i, u in enumerate(urls):
            names.append(f"url{i}")
            handles.append(Actor.options(num_cpus=0, name=None).remote(names[-1], {**spec, "url": u}))
    else:
        gpus = int(ray.cluster_resources().get("GPU", 0)) if not spec.get("cpu") else 0
        k = servers or max(1, gpus)
        for i in range(k):
            names.append(f"{'gpu' if gpus else 'cpu'}{i}")
            opts = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
            handles.append(Actor.options(**opts).remote(names[-1], spec))
    pool = Pool(handles, names, ray, own_ray)
    try:
        pool.infos = ray.get([h.info.remote() for h in handles], timeout=start_timeout)
    except BaseException:
        pool.close()
        raise
    return pool


# -- the run loop -----------------------------------------------------------------------------------
def run(pool: Pool, tasks: Sequence[Dict[str, Any]], on_result: Callable[[Dict[str, Any]], None],
        on_start: Optional[Callable[[Dict[str, Any], str], None]] = None) -> Dict[str, Any]:
    """Run ``tasks`` (``{"key", "workflow", "fetch"}``) on the pool's workers, each idle worker taking
    the next task; ``on_result`` gets every result as it arrives, once per task. A worker that Ray
    could not bring back (restarts used up) is left out and its task recorded as failed.
    Ctrl-C (KeyboardInterrupt): the servers' running prompts are interrupted, nothing more is
    recorded, and the KeyboardInterrupt goes on to the caller."""
    ray = pool.ray
    todo = list(tasks)[::-1]
    idle = list(range(len(pool.handles)))
    running: Dict[Any, tuple] = {}
    done = failed_workers = 0
    try:
        while todo or running:
            while todo and idle:
                w = idle.pop(0)
                t = todo.pop()
                running[pool.handles[w].run.remote(t)] = (w, t)
                if on_start:
                    on_start(t, pool.names[w])
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                w, t = running.pop(ref)
                try:
                    res = ray.get(ref)
                    idle.append(w)
                except ray.exceptions.RayActorError as e:  # Ray gave up on this worker
                    failed_workers += 1
                    res = {"key": t["key"], "server": pool.names[w], "ok": False, "seconds": None,
                           "error": f"worker {pool.names[w]} lost after {MAX_RESTARTS} restarts: {e}"}
                    if not idle and not running and todo:
                        on_result(res)
                        raise RuntimeError("every worker is lost; rerun to resume") from e
                done += 1
                on_result(res)
    except KeyboardInterrupt:
        for h in pool.handles:
            try:
                ray.get(h.interrupt.remote(), timeout=10)
            except Exception:  # noqa: BLE001
                pass
        if running:  # let the interrupted prompts return, so the workers are free again; record nothing
            ray.wait(list(running), num_returns=len(running), timeout=30)
        raise
    return {"done": done, "lost_workers": failed_workers}
