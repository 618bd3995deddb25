"""The provisioning steps and the whole run over one SSH connection (see the package docstring)."""
from __future__ import annotations

import asyncio
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperdesk import __version__
from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.local import default_local_slots
from hyperdesk.farm.provision import Say, provision_error
from hyperdesk.farm.provision.build import ControllerBuild, controller_build
from hyperdesk.farm.provision.node_state import (
    BROWSER_PACKAGE,
    PYTHON_PACKAGE,
    STAMP_NAME,
    VENV_PACKAGE,
    NodeState,
    survey_payload,
    survey_script,
)
from hyperdesk.farm.provision.shell import NodeShell, env_words, quote
from hyperdesk.farm.ssh import compare_env, connect_node
from hyperdesk.plan.env import local_worker_env
from hyperdesk.store.db import JobStore
from hyperdesk.store.models import NodeConfig

MIN_PYTHON = (3, 11)
PIP_TIMEOUT_S = 3600.0


@dataclass
class ProvisionResult:
    node: str
    address: str
    outcome: str  # already-current | installed | updated | incomplete | checked
    actions: list[str] = field(default_factory=list)
    admin_commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    remote_command: list[str] = field(default_factory=list)
    compatible: bool | None = None
    reason: str | None = None
    preflight: dict[str, Any] | None = None
    hyperdesk_version: str = ""
    wheel_digest: str = ""
    pins: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ProvisionOptions:
    python: str = "python3"
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    pip_args: list[str] = field(default_factory=list)
    system_packages: bool = True  # install missing system packages when root or sudo -n allows
    check_only: bool = False
    name: str | None = None
    slots: int | None = None
    register: bool = True


class Provisioner:
    """One provisioning run over one SSH connection."""

    def __init__(self, node: NodeConfig, store: JobStore, build: ControllerBuild, opts: ProvisionOptions, *,
                 accept_fingerprint: Any = None, say: Say | None = None) -> None:
        self.node = node
        self.store = store
        self.build = build
        self.opts = opts
        self.accept_fingerprint = accept_fingerprint
        self.say = say or (lambda _m: None)
        self._shell: NodeShell | None = None
        self.result = ProvisionResult(node=node.name, address=node.address, outcome="checked",
                                      hyperdesk_version=build.version, wheel_digest=build.wheel_digest,
                                      pins=len(build.pins))

    @property
    def shell(self) -> NodeShell:
        assert self._shell is not None, "run() connects first"
        return self._shell

    async def survey(self) -> NodeState:
        cmd = quote(env_words(self.node) + [self.opts.python, "-", json.dumps(survey_payload(self.build))])
        res = await self.shell.run(cmd, input=survey_script(), check=False, what="the node probe", timeout=120)
        if res.exit_status != 0:
            err = str(res.stderr or "").strip().splitlines()[-3:]
            if res.exit_status == 127:
                raise provision_error(f"node {self.node.name}: {self.opts.python} not found",
                                      "Install Python 3.11 or newer on the node (sudo apt-get install -y python3 "
                                      "python3-venv) or pass --python with its path.", missing="python")
            raise provision_error(f"node {self.node.name}: the probe failed: {' | '.join(err)}",
                                  "Check that --python names a working Python 3 on the node.")
        try:
            return NodeState(json.loads(str(res.stdout).strip().splitlines()[-1]))
        except (ValueError, IndexError):
            raise provision_error(f"node {self.node.name}: the probe printed no state",
                                  "Check that --python names a working Python 3 on the node.") from None

    # ---- steps ------------------------------------------------------------------------------

    async def _python_missing(self) -> NodeState:
        """No Python on the node: install it when allowed, else say what an administrator must run."""
        res = await self.shell.run("id -u; command -v apt-get || true; sudo -n true >/dev/null 2>&1 && echo sudo-ok "
                                   "|| true", check=False, what="checking the node")
        lines = str(res.stdout or "").split()
        root = bool(lines) and lines[0] == "0"
        apt = any(x.endswith("apt-get") for x in lines)
        sudo = "sudo-ok" in lines
        pkgs = [PYTHON_PACKAGE, VENV_PACKAGE]
        if apt and self.opts.system_packages and (root or sudo) and not self.opts.check_only:
            await self._apt(pkgs, root=root)
            return await self.survey()
        self._admin(pkgs, apt)
        raise provision_error(f"node {self.node.name}: {self.opts.python} is not installed",
                              "An administrator must run: " + " && ".join(self.result.admin_commands),
                              admin_commands=self.result.admin_commands)

    def _admin(self, pkgs: list[str], apt: bool) -> None:
        if apt:
            cmds = ["sudo apt-get update", "sudo apt-get install -y --no-install-recommends " + " ".join(pkgs)]
        else:
            cmds = ["install with the system's package manager: " + ", ".join(pkgs)]
        for c in cmds:
            if c not in self.result.admin_commands:
                self.result.admin_commands.append(c)

    async def _apt(self, pkgs: list[str], *, root: bool) -> None:
        prefix = [] if root else ["sudo", "-n"]
        self.say(f"node {self.node.name}: installing system packages: {' '.join(pkgs)}")
        await self.shell.stream(quote(prefix + ["apt-get", "update", "-qq"]), timeout=900, what="apt-get update")
        await self.shell.stream(quote(prefix + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                                                "-qq", "--no-install-recommends"] + pkgs),
                                timeout=1800, what="apt-get install")
        self.result.actions.append("installed system packages: " + " ".join(pkgs))

    async def system_packages(self, state: NodeState) -> NodeState:
        s = state.survey
        missing = []
        if not s["venv_module"]:
            missing.append(VENV_PACKAGE)
        if not s["browser"]:
            missing.append(BROWSER_PACKAGE)
        if not missing:
            return state
        can = s["apt"] and self.opts.system_packages and (s["is_root"] or s["sudo"])
        if can and not self.opts.check_only:
            await self._apt(missing, root=s["is_root"])
            return await self.survey()
        self._admin(missing, s["apt"])
        if BROWSER_PACKAGE in missing and s["os"].get("id") == "ubuntu":
            self.result.notes.append("Ubuntu has no chromium-headless-shell package: install Chrome for Testing's "
                                     "headless shell and set HYPERDESK_BROWSER on the node (nodes add --env).")
        return state

    async def install_venv(self, state: NodeState) -> NodeState:
        s = state.survey
        venv = state.venv
        py = tuple(s["python_version"][:2])
        if py < MIN_PYTHON:
            raise provision_error(
                f"node {self.node.name}: {s['python']} is Python {'.'.join(map(str, py))}; hyperdesk needs "
                f"{'.'.join(map(str, MIN_PYTHON))} or newer",
                "Install a newer Python on the node (Debian 12 and Ubuntu 24.04 have one) and pass --python.")
        prov = f"{state.prefix}/provision"
        await self.shell.run(quote(["mkdir", "-p", prov]), what="creating the prefix")
        fresh = s.get("venv_state") is None
        if not fresh and not state.venv_matches_python():
            self.say(f"node {self.node.name}: recreating {venv} for Python {'.'.join(map(str, py))}")
            await self.shell.run(quote(["rm", "-rf", venv]), what="removing the old venv")
            fresh = True
        if fresh:
            self.say(f"node {self.node.name}: creating {venv}")
            await self.shell.run(quote([self.opts.python, "-m", "venv", venv]), what="python -m venv", timeout=300)
            self.result.actions.append(f"created {venv}")
        remote_wheel = f"{prov}/{self.build.wheel.name}"
        remote_pins = f"{prov}/constraints.txt"
        self.say(f"node {self.node.name}: uploading {self.build.wheel.name} and {len(self.build.pins)} dependency pins")
        await self.shell.put_atomic(self.build.wheel, remote_wheel)
        pins_text = ("# hyperdesk " + self.build.version + ": the controller's dependency closure\n"
                     + "\n".join(self.build.pins) + "\n")
        await self.shell.put_atomic(None, remote_pins, pins_text.encode())
        vpy = f"{venv}/bin/python"
        vs = state.venv_state or {}
        if (vs.get("installed") or {}).get("hyperdesk"):
            # Same version number, other build: pip would call it satisfied, so remove it first.
            await self.shell.run(quote([vpy, "-m", "pip", "uninstall", "-y", "-q", "hyperdesk"]), what="pip uninstall",
                                 timeout=300)
        pip = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
        if self.opts.no_index:
            pip.append("--no-index")
        for fl in self.opts.find_links:
            pip += ["--find-links", fl]
        pip += list(self.opts.pip_args)
        pip += ["-c", remote_pins, remote_wheel]
        self.say(f"node {self.node.name}: pip install (the node's own pip, pinned) …")
        await self.shell.stream(quote(pip), timeout=PIP_TIMEOUT_S, what="pip install")
        self.result.actions.append(f"installed hyperdesk {self.build.version} ({self.build.wheel_digest[:12]}) "
                                   f"with {len(self.build.pins)} pinned dependencies")
        state = await self.survey()
        problems = state.venv_problems(self.build, stamp=False)
        installed = state.venv_state
        if problems or installed is None:
            raise provision_error(f"node {self.node.name}: after pip install: {'; '.join(problems)}",
                                  "Check the node's package index: it must offer the pinned versions.",
                                  problems=problems)
        stamp = {"schema": 1, "hyperdesk_version": self.build.version, "wheel": self.build.wheel.name,
                 "wheel_digest": self.build.wheel_digest, "pins_digest": self.build.pins_digest,
                 "pins": self.build.pins, "installed": installed["installed"],
                 "python": ".".join(map(str, state.survey["python_version"])),
                 "provisioned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "controller": platform.node()}
        await self.shell.put_atomic(None, f"{venv}/{STAMP_NAME}",
                                    (json.dumps(stamp, indent=2, sort_keys=True) + "\n").encode())
        return await self.survey()

    async def font(self, state: NodeState) -> None:
        f = state.survey.get("font")
        if self.build.font_file is None:
            if f is None:
                self.result.notes.append("this controller has no default font to give; run `hyperdesk setup` "
                                         "on the node (it needs npm) or here first")
            return
        assert f is not None, "the survey reports the font whenever the build carries one"
        if f["ok"]:
            return
        remote = f["path"]
        await self.shell.run(quote(["mkdir", "-p", remote.rsplit("/", 1)[0]]), what="creating the font cache")
        await self.shell.put_atomic(self.build.font_file, remote)
        self.result.actions.append(f"copied the default font {self.build.font_file.name}")

    async def link(self, state: NodeState) -> None:
        """~/.local/bin/hyperdesk for people logging into the node, unless something else is there."""
        ln = state.survey["link"]
        if ln["exists"]:
            if ln["target"] != state.hyperdesk_exe:
                self.result.notes.append(f"{ln['path']} exists and is not ours; left alone")
            return
        await self.shell.run(quote(["mkdir", "-p", ln["path"].rsplit("/", 1)[0]]) + " && "
                             + quote(["ln", "-s", state.hyperdesk_exe, ln["path"]]),
                             what="linking ~/.local/bin/hyperdesk")
        self.result.actions.append(f"linked {ln['path']}")

    async def preflight(self, state: NodeState) -> None:
        cmd = quote(env_words(self.node) + [state.hyperdesk_exe, "doctor", "--json", "--no-gl"])
        res = await self.shell.run(cmd, check=False, timeout=300, what="hyperdesk doctor")
        out = str(res.stdout or "").strip()
        try:
            report = json.loads(out)
        except ValueError:
            tail = str(res.stderr or "").strip().splitlines()[-5:]
            self.result.compatible = False
            self.result.reason = f"doctor did not answer JSON (exit {res.exit_status}): {' | '.join(tail)}"
            return
        self.result.preflight = report
        try:
            want = local_worker_env()
        except HyperdeskError as err:  # a controller without a browser still compares what it can
            self.result.notes.append(f"this machine's worker environment is incomplete ({err.code}); "
                                     "only the hyperdesk version was compared")
            theirs = (report.get("worker_env") or {}).get("hyperdesk_version")
            reason = None if theirs == __version__ else f"hyperdesk differs: node has {theirs!r}"
        else:
            reason = compare_env(report, want)
        problems = [f"{p.get('code')}: {p.get('message')}" for p in report.get("problems") or []]
        self.result.compatible = reason is None
        self.result.reason = reason
        if problems:
            self.result.notes.append("node doctor problems: " + "; ".join(problems))

    def register(self, state: NodeState) -> None:
        name = self.opts.name or self.node.name
        existing = self.store.get_node(name)
        remote = [state.hyperdesk_exe]
        if existing is not None:
            cfg = NodeConfig.model_validate(existing.model_dump())
            cfg.host, cfg.port, cfg.user = self.node.host, self.node.port, self.node.user
            cfg.remote_command = remote
            if self.node.key_path:
                cfg.key_path = self.node.key_path
            if self.opts.slots:
                cfg.slots = self.opts.slots
            for k, v in self.node.remote_env.items():
                cfg.remote_env[k] = v
        else:
            platform_info = (self.result.preflight or {}).get("platform") or {}
            slots = self.opts.slots or default_local_slots(platform_info.get("cpu_count") or 2,
                                                           platform_info.get("memory_bytes") or 4 << 30)
            cfg = self.node.model_copy(update={"name": name, "remote_command": remote,
                                               "slots": slots})
        self.store.upsert_node(cfg)
        if self.result.preflight is not None:
            self.store.set_node_preflight(cfg.name, self.result.preflight,
                                          None if self.result.compatible else self.result.reason)
        self.result.node = cfg.name
        self.result.remote_command = remote

    # ---- the whole run ----------------------------------------------------------------------

    async def run(self) -> ProvisionResult:
        t0 = time.monotonic()
        conn, _lost = await connect_node(self.node, self.store, accept_fingerprint=self.accept_fingerprint)
        self._shell = NodeShell(conn, self.node.name, self.say)
        try:
            try:
                state = await self.survey()
            except HyperdeskError as err:
                if err.details.get("missing") != "python":
                    raise
                state = await self._python_missing()
            s = state.survey
            self.say(f"node {self.node.name}: {s['os'].get('pretty') or 'unknown OS'}, Python "
                     f"{'.'.join(map(str, s['python_version']))}, "
                     f"{'root' if s['is_root'] else 'sudo' if s['sudo'] else 'no sudo'}, "
                     f"browser {s['browser'] or 'missing'}")
            state = await self.system_packages(state)
            problems = state.venv_problems(self.build)
            if self.opts.check_only:
                self.result.outcome = "checked"
                self.result.notes += [f"would update: {x}" for x in problems]
                if state.venv_state:
                    await self.preflight(state)
                return self.result
            if not state.survey["venv_module"]:
                self.result.outcome = "incomplete"
                self.result.reason = "Python's venv module is missing on the node"
                return self.result
            had_venv = state.venv_state is not None
            if problems:
                self.say(f"node {self.node.name}: " + "; ".join(problems))
                state = await self.install_venv(state)
            await self.font(state)
            await self.link(state)
            await self.preflight(state)
            if self.opts.register:
                self.register(state)
            else:
                self.result.remote_command = [state.hyperdesk_exe]
            if self.result.admin_commands:
                self.result.outcome = "incomplete"
            elif not self.result.actions:
                self.result.outcome = "already-current"
            else:
                self.result.outcome = "updated" if had_venv else "installed"
            return self.result
        finally:
            self.result.seconds = round(time.monotonic() - t0, 3)
            self._shell.close()


def provision(node: NodeConfig, store: JobStore, opts: ProvisionOptions, *, wheel: Path | None = None,
              accept_fingerprint: Any = None, say: Say | None = None) -> ProvisionResult:
    """Provision one node (blocking): build or find the controller's wheel, then run the steps."""
    build = controller_build(wheel, say=say)
    if say:
        say(f"hyperdesk {build.version} wheel {build.wheel.name} ({build.source}, {build.wheel_digest[:12]}), "
            f"{len(build.pins)} pinned dependencies")
    return asyncio.run(Provisioner(node, store, build, opts, accept_fingerprint=accept_fingerprint, say=say).run())
