"""Render-node provisioning: put this controller's hyperdesk on a Debian/Ubuntu node over SSH.

`hyperdesk nodes provision user@host` makes a node able to render this controller's plans:

* It connects with the farm's strict host-key pinning (`connect_node`): an unknown key is refused
  until its fingerprint is confirmed, a changed key is refused outright.
* One survey (node_survey.py, run by the node's own python3) reports the node's state: OS, sudo,
  system packages, the browser, the hyperdesk venv and what is installed in it, the default font.
* hyperdesk goes into the user's own prefix, `~/.local/share/hyperdesk/venv`, as the very wheel of
  the controller (built from its source tree, taken from its app bundle, or repacked from its
  installed files), installed by the node's own pip under the controller's exact dependency pins
  (`-c constraints.txt`: every package of hyperdesk's dependency closure at the controller's version).
  The node needs only its package index (or --find-links/--no-index). The pinned ffmpeg arrives with
  imageio-ffmpeg.
* System packages (chromium-headless-shell, python3-venv) only through `apt-get`, as root or with
  passwordless `sudo -n`; otherwise the exact commands an administrator must run are reported.
* Idempotent: a node whose venv holds the same wheel (content digest), the same pins and an intact
  hyperdesk, with a browser and the font present, is left untouched ("already current").
* It ends with the node's preflight (`hyperdesk doctor --json` on the node, compared with this
  machine's worker environment) and registers or updates the node with the path of its hyperdesk.

The wheel's identity is a digest of its entries' names and contents, so two builds of the same
source (different zip timestamps) are the same wheel.

Files: pins.py (the dependency closure), wheel.py (building, repacking and identifying a wheel),
build.py (what a node gets), node_survey.py and venv_survey.py (the scripts that run on the node),
node_state.py (reading the survey), shell.py (commands and uploads over one SSH connection),
provisioner.py (the steps and the whole run).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperdesk.errors import HyperdeskError

Say = Callable[[str], None]  # where provisioning tells a person what it is doing


def provision_error(message: str, hint: str, **details: Any) -> HyperdeskError:
    return HyperdeskError("NODE_PROVISION_FAILED", message, hint=hint, details=details)
