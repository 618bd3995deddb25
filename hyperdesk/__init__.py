"""hyperdesk: a desktop render manager for HTML video compositions."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("hyperdesk")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.1.0"
