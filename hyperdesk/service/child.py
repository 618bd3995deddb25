"""Work the app runs in a child process: planning, and rendering one still frame of a plan.

The app's process runs Qt and the controller; a plan compiles, probes with Chromium and extracts
video frames, which must neither block the window nor outlive a cancel. `ChildCall` owns the child's
command line and its answer: the call goes in as JSON on stdin, one JSON line comes back on stdout
(`{"result": …}` or `{"error": {code, message, hint, retryable, details}}`), so typed errors cross the
process boundary as data. Cancelling the awaiting task interrupts the child's process group (the
planner then removes its partial planDir), then kills it.

    python -m hyperdesk.service.child      # reads {"op": "plan" | "still", ...} on stdin
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from hyperdesk.errors import HyperdeskError, unexpected_error
from hyperdesk.faults import FaultPlan, fault_args
from hyperdesk.models import PlanResult, WorkerEnv
from hyperdesk.plan.cache import cached_plan
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.still import render_still

GRACE_S = 3.0


class ChildCall:
    def __init__(self, op: str, payload: dict[str, Any], *, faults: FaultPlan | None = None) -> None:
        self.op = op
        self.payload = payload
        self.argv = [sys.executable, "-m", "hyperdesk.service.child", *fault_args(faults)]

    async def run(self, timeout: float = 3600.0) -> Any:
        proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        request = json.dumps({"op": self.op, **self.payload}).encode()
        try:
            out, err = await asyncio.wait_for(proc.communicate(request), timeout)
        except BaseException:
            await _stop(proc)
            raise
        answer = _last_json(out.decode("utf-8", "replace"))
        if answer is not None and "result" in answer:
            return answer["result"]
        if answer is not None and "error" in answer:
            raise HyperdeskError.from_dict(answer["error"])
        tail = err.decode("utf-8", "replace").splitlines()[-20:]
        raise HyperdeskError("INTERNAL_ERROR", f"the {self.op} process exited with status {proc.returncode} "
                             "without an answer", details={"stderr_tail": tail})


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGINT to the group (cleanups run), then SIGKILL to whatever is left of it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(asyncio.shield(proc.wait()), GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(asyncio.shield(proc.wait()), 5)


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    return value
    return None


# ---- the child's side ----------------------------------------------------------------------------

def plan_payload(composition: str, config: RenderConfig, env: WorkerEnv, exclude: list[str]) -> dict[str, Any]:
    return {"composition": composition, "config": config.model_dump(mode="json"),
            "env": env.model_dump(mode="json"), "exclude": exclude}


def _serve(call: dict[str, Any], faults: FaultPlan | None) -> Any:
    op = call.get("op")
    if op == "plan":
        result = cached_plan(call["composition"], RenderConfig.model_validate(call["config"]),
                             env=WorkerEnv.model_validate(call["env"]),
                             exclude=tuple(Path(p) for p in call.get("exclude", [])), faults=faults)
        return result.model_dump(mode="json")
    if op == "still":
        render_still(Path(call["plan_dir"]), int(call["frame"]), Path(call["out"]), faults=faults)
        return {"out": call["out"]}
    raise HyperdeskError("INTERNAL_ERROR", f"unknown child operation {op!r}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    faults = FaultPlan.from_arg(args[1]) if len(args) >= 2 and args[0] == "--faults" else None
    # stdout carries the answer only; anything a library prints goes to stderr.
    answer_fd = os.dup(1)
    os.dup2(2, 1)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        answer: dict[str, Any] = {"result": _serve(json.loads(sys.stdin.read()), faults)}
        status = 0
    except HyperdeskError as err:
        answer, status = {"error": err.to_dict()}, err.exit_status
    except KeyboardInterrupt:
        answer, status = {"error": HyperdeskError("CANCELLED", "cancelled").to_dict()}, 130
    except Exception as exc:  # a bug still answers as data, never as a bare traceback
        unexpected = unexpected_error(exc)
        answer, status = {"error": unexpected.to_dict()}, unexpected.exit_status
    os.write(answer_fd, (json.dumps(answer) + "\n").encode())
    return status


if __name__ == "__main__":
    raise SystemExit(main())


# PlanResult is what a "plan" answer holds.
__all__ = ["ChildCall", "PlanResult", "plan_payload"]
