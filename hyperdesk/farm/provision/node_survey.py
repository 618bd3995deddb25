"""What a render node has, as one JSON object on stdout: OS, sudo, system packages, the browser, the
default font, the hyperdesk venv and what is installed in it.

The controller does not import this module: it sends its text to the node's own python3 as
`python3 - PAYLOAD` (the script on stdin, node_state.survey_payload as JSON in argv). It runs under
any Python 3.6+ with only the standard library, so an old Python can still say that it is too old.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys


def _os_release():
    osr = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    osr[k] = v.strip().strip('"')
    except OSError:
        pass
    return {"id": osr.get("ID"), "id_like": osr.get("ID_LIKE"), "version_id": osr.get("VERSION_ID"),
            "pretty": osr.get("PRETTY_NAME")}


def _passwordless_sudo():
    if not shutil.which("sudo"):
        return False
    return subprocess.call(["sudo", "-n", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0


def _dpkg_installed(names):
    installed = {}
    if shutil.which("dpkg-query"):
        for name in names:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            installed[name] = b"install ok installed" in r.stdout
    return installed


def _venv_module():
    try:
        # Debian's python3 has venv but cannot use it until python3-venv brings ensurepip.
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        return False
    return True


def _browser(candidates):
    configured = os.environ.get("HYPERDESK_BROWSER")
    for cand in [configured] if configured else candidates:
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def _font(home, font_file, integrity):
    """The default font tarball in the node's asset cache, and whether it matches its integrity."""
    if not font_file:
        return None
    cache = os.environ.get("HYPERDESK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache"), "hyperdesk")
    path = os.path.join(cache, "assets", "npm", font_file)
    ok = False
    if os.path.isfile(path) and integrity:
        algo, _, want = integrity.partition("-")
        h = hashlib.new(algo)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        ok = base64.b64encode(h.digest()).decode() == want
    return {"path": path, "ok": ok}


def _venv_state(venv, venv_script, names):
    """What the venv's own python reports (venv_survey.py), None without a venv."""
    vpy = os.path.join(venv, "bin", "python")
    if not os.path.exists(vpy):
        return None
    # Not capture_output: that needs Python 3.7, and this script must run on older ones.
    r = subprocess.run([vpy, "-c", venv_script, json.dumps(names)],  # noqa: UP022
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        return json.loads(r.stdout.decode())
    except ValueError:
        return {"broken": r.stderr.decode("utf-8", "replace")[-400:]}


def _stamp(path):
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def survey(payload):
    home = os.path.expanduser("~")
    prefix = os.path.join(home, payload["prefix_rel"])
    venv = os.path.join(prefix, "venv")
    is_root = os.geteuid() == 0
    link = os.path.join(home, ".local", "bin", "hyperdesk")
    return {
        "home": home,
        "python": os.path.realpath(sys.executable),
        "python_version": list(sys.version_info[:3]),
        "prefix": prefix,
        "venv": venv,
        "is_root": is_root,
        "os": _os_release(),
        "apt": bool(shutil.which("apt-get")),
        "sudo": not is_root and _passwordless_sudo(),
        "packages": _dpkg_installed(payload["packages"]),
        "venv_module": _venv_module(),
        "browser": _browser(payload["browser_paths"]),
        "font": _font(home, payload.get("font_file"), payload.get("font_integrity")),
        "link": {"path": link, "exists": os.path.lexists(link),
                 "target": os.readlink(link) if os.path.islink(link) else None},
        "venv_state": _venv_state(venv, payload["venv_script"], payload["names"]),
        "stamp": _stamp(os.path.join(venv, payload["stamp"])),
    }


if __name__ == "__main__":
    print(json.dumps(survey(json.loads(sys.argv[1]))))
