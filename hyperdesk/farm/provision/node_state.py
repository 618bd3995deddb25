"""A node's state as its survey reports it (node_survey.py), and what is missing from its venv."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

from hyperdesk.capture.browser import system_paths
from hyperdesk.farm.provision.build import ControllerBuild

PREFIX_REL = ".local/share/hyperdesk"  # under the node user's home
STAMP_NAME = "hyperdesk-provision.json"  # inside the venv: what the last provisioning installed
BROWSER_PACKAGE = "chromium-headless-shell"
VENV_PACKAGE = "python3-venv"
PYTHON_PACKAGE = "python3"


def _script_text(name: str) -> str:
    """A survey script's source, as shipped inside this package."""
    return resources.files("hyperdesk.farm.provision").joinpath(name).read_text(encoding="utf-8")


def survey_script() -> str:
    """The text the node's python3 runs (from stdin) to survey the node."""
    return _script_text("node_survey.py")


def _browser_paths() -> list[str]:
    # A node is always Linux; the controller may not be.
    if sys.platform.startswith("linux"):
        return system_paths()
    return ["/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium",
            "/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser"]


def survey_payload(build: ControllerBuild) -> dict[str, Any]:
    """What the survey needs to know: where hyperdesk lives, what to look for, the venv's script."""
    return {
        "prefix_rel": PREFIX_REL,
        "stamp": STAMP_NAME,
        "packages": [PYTHON_PACKAGE, VENV_PACKAGE, BROWSER_PACKAGE],
        "browser_paths": _browser_paths(),
        "names": ["hyperdesk"] + [p.split("==")[0] for p in build.pins],
        "font_file": build.font_file.name if build.font_file else None,
        "font_integrity": build.font_integrity,
        "venv_script": _script_text("venv_survey.py"),
    }


@dataclass
class NodeState:
    survey: dict[str, Any]

    @property
    def venv(self) -> str:
        return str(self.survey["venv"])

    @property
    def prefix(self) -> str:
        return str(self.survey["prefix"])

    @property
    def hyperdesk_exe(self) -> str:
        return f"{self.venv}/bin/hyperdesk"

    @property
    def venv_state(self) -> dict[str, Any] | None:
        vs = self.survey.get("venv_state")
        return vs if vs and "broken" not in vs else None

    def venv_matches_python(self) -> bool:
        vs = self.venv_state
        return vs is not None and vs["python_version"][:2] == self.survey["python_version"][:2]

    def venv_problems(self, build: ControllerBuild, *, stamp: bool = True) -> list[str]:
        """Why the venv is not the controller's install; empty when it is current. stamp=False
        checks only what is installed (right after pip, before the stamp is written)."""
        vs = self.venv_state
        if self.survey.get("venv_state") is None:
            return ["no hyperdesk venv yet"]
        if vs is None:
            return ["the venv is broken"]
        problems = []
        if not self.venv_matches_python():
            problems.append(f"the venv was made for Python {'.'.join(map(str, vs['python_version'][:2]))}")
        installed = vs["installed"]
        if installed.get("hyperdesk") is None:
            problems.append("hyperdesk is not installed")
        elif installed["hyperdesk"] != build.version:
            problems.append(f"hyperdesk {installed['hyperdesk']} is installed, this controller runs {build.version}")
        elif not vs.get("hyperdesk_intact"):
            problems.append("hyperdesk's installed files do not match its RECORD")
        else:
            recorded = self.survey.get("stamp") or {}
            if stamp and recorded.get("wheel_digest") != build.wheel_digest:
                problems.append("another build of hyperdesk is installed")
            if stamp and recorded.get("pins_digest") != build.pins_digest:
                problems.append("it was installed under other dependency pins")
            if stamp and recorded.get("installed") not in (None, installed):
                problems.append("packages changed since the last provisioning")
        for pin in build.pins:
            name, _, version = pin.partition("==")
            have = installed.get(name)
            if have is not None and have != version:
                problems.append(f"{name} {have}, pinned {version}")
        missing = [n for n in build.direct_requirements if installed.get(n) is None]
        if missing:
            problems.append(f"{len(missing)} of hyperdesk's {len(build.direct_requirements)} dependencies missing")
        return problems
