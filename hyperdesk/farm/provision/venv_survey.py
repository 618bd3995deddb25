"""What the node's hyperdesk venv holds, as one JSON object on stdout: its Python, the installed
versions of the given distributions, and whether hyperdesk's files still match its RECORD.

node_survey.py runs this file's text with the venv's own python: `python -c TEXT NAMES_JSON`.
"""
import base64
import hashlib
import json
import sys
from importlib import metadata


def _hyperdesk_intact():
    try:
        dist = metadata.distribution("hyperdesk")
    except metadata.PackageNotFoundError:
        return False
    for f in dist.files or []:
        if not f.hash:
            continue
        try:
            data = f.read_binary()
        except OSError:
            return False
        got = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=").decode()
        if got != f.hash.value:
            return False
    return True


def survey(names):
    installed = {}
    for name in names:
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    return {"python_version": list(sys.version_info[:3]), "installed": installed,
            "hyperdesk_intact": _hyperdesk_intact()}


if __name__ == "__main__":
    print(json.dumps(survey(json.loads(sys.argv[1]))))
