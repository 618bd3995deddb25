"""Which executors serve a job: the local worker pool, SSH nodes and the render workers of Dask clusters, from a
request or a stored job."""
from __future__ import annotations

from typing import Any

from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.farm.dask.address import check_scheduler_address, is_scheduler_address
from hyperdesk.farm.executor import Executor, SlotPool
from hyperdesk.farm.local import LocalExecutor, default_local_slots
from hyperdesk.service.request import FarmRequest
from hyperdesk.store.db import JobStore
from hyperdesk.store.models import NodeConfig


def resolve_node(text: str, store: JobStore) -> NodeConfig:
    """A registered node name, or `user@host[:port]` (matched against registered nodes first)."""
    from hyperdesk.farm.ssh import parse_node_address  # asyncssh costs 0.3 s to import: only for SSH nodes

    rec = store.get_node(text)
    if rec is not None:
        if rec.scheduler:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"{text} is a Dask cluster, not an SSH node",
                                 hint=f"Give it with --dask {text}.", details={"field": "node", "value": text})
        return NodeConfig.model_validate(rec.model_dump())
    user, host, port = parse_node_address(text)
    for rec in store.list_nodes():
        if not rec.scheduler and rec.host == host and rec.port == port and (user is None or rec.user == user):
            return NodeConfig.model_validate(rec.model_dump())
    name = f"{user + '@' if user else ''}{host}" + (f":{port}" if port != 22 else "")
    return NodeConfig(name=name, host=host, port=port, user=user)


def resolve_cluster(text: str, store: JobStore) -> tuple[str, str | None]:
    """A saved Dask cluster's name, or a scheduler address -> (address, the saved entry's name or None)."""
    rec = store.get_node(text)
    if rec is not None:
        if not rec.scheduler:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"{text} is an SSH node, not a Dask cluster",
                                 hint=f"Give it with --node {text}.", details={"field": "dask", "value": text})
        return rec.scheduler, rec.name
    if not is_scheduler_address(text):
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"no saved Dask cluster named {text!r}",
                             hint="Give the scheduler's address (tcp://HOST:PORT) or save it with "
                                  "hyperdesk nodes add NAME tcp://HOST:PORT.", details={"field": "dask", "value": text})
    address = check_scheduler_address(text)
    for rec in store.list_nodes():
        if rec.scheduler == address:
            return address, rec.name
    return address, None


class ExecutorFactory:
    """Builds executors with the app's or test's worker command and fault plan."""

    def __init__(self, store: JobStore, *, faults: FaultPlan | None = None,
                 worker_command: list[str] | None = None, worker_env: dict[str, str] | None = None) -> None:
        self.store = store
        self.faults = faults
        self.worker_command = worker_command
        self.worker_env = worker_env

    def local(self, slots: int, pool: SlotPool | None = None) -> LocalExecutor:
        return LocalExecutor(slots, command=self.worker_command, env=self.worker_env, faults=self.faults, pool=pool)

    def ssh(self, node: NodeConfig, accept_fingerprint: Any = None) -> Executor:
        from hyperdesk.farm.ssh import SshExecutor  # asyncssh costs 0.3 s to import: only for SSH nodes

        return SshExecutor(node, self.store, accept_fingerprint=accept_fingerprint, faults=self.faults)

    def for_request(self, farm: FarmRequest, pool: SlotPool | None = None) -> list[Executor]:
        """The local pool and SSH nodes (no connection yet); with `pool`, this machine's workers are the pool's
        (its capacity), shared with the other jobs that use it. Dask clusters are only checked here, their
        workers come from `dask_workers`."""
        executors: list[Executor] = []
        slots = default_local_slots() if farm.local is None else farm.local
        if pool is not None and slots > 0:
            slots = pool.capacity
        if slots > 0:
            executors.append(self.local(slots, pool))
        for text in farm.nodes:
            executors.append(self.ssh(resolve_node(text, self.store), list(farm.accept_host_keys) or None))
        clusters = [resolve_cluster(text, self.store) for text in farm.dask]
        if not executors and not clusters:
            raise HyperdeskError("INVALID_RENDER_CONFIG", "no worker: --local 0 and no --node or --dask",
                                 hint="Give --local N (N >= 1), a --node user@host[:port] or a --dask tcp://HOST:PORT.")
        return executors

    async def dask_workers(self, clusters: list[str]) -> list[Executor]:
        """One executor per render worker of each Dask cluster (saved names or addresses): connects to the
        schedulers; NODE_UNREACHABLE / NODE_INCOMPATIBLE with hints when one cannot serve."""
        if not clusters:
            return []
        try:
            # distributed costs 1-2 s to import, and is an optional dependency: only when a job uses a Dask cluster
            from hyperdesk.farm.dask.executor import cluster_executors
        except ImportError as exc:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"--dask needs Dask's distributed package: {exc}",
                                 hint="pip install 'hyperdesk[dask]' (scripts/setup.sh does).") from None
        out: list[Executor] = []
        try:
            for text in clusters:
                address, name = resolve_cluster(text, self.store)
                out.extend(await cluster_executors(address, name=name, faults=self.faults))
        except BaseException:
            for executor in out:
                await executor.close()
            raise
        return out

    def for_nodes(self, local: int, nodes: list[NodeConfig]) -> list[Executor]:
        out: list[Executor] = [self.local(local)] if local > 0 else []
        out.extend(self.ssh(n) for n in nodes)
        return out

    def from_spec(self, spec: dict[str, Any], *, local: int | None = None,
                  accept_host_keys: list[str] | None = None, pool: SlotPool | None = None) -> list[Executor]:
        """The executors a stored job was started with (the registered node may have changed: slots, key);
        `local` replaces the local slot count."""
        out: list[Executor] = []
        had_local = False
        for item in spec.get("executors", []):
            if item.get("kind") == "local":
                had_local = True
                slots = item.get("slots") if local is None else local
                if pool is not None and slots:
                    slots = pool.capacity
                if slots:
                    out.append(self.local(int(slots), pool))
            elif item.get("kind") == "dask":
                continue  # a cluster's workers are found again when it reconnects (`dask_workers`)
            elif item.get("kind") == "ssh":
                node = NodeConfig.model_validate(item["node"])
                registered = self.store.get_node(node.name)
                if registered is not None:
                    node = NodeConfig.model_validate(registered.model_dump())
                out.append(self.ssh(node, list(accept_host_keys or []) or None))
        if not had_local and local:
            out.insert(0, self.local(pool.capacity if pool is not None else local, pool))
        return out
