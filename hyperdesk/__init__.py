"""hyperdesk: a desktop render manager for HTML video compositions."""
import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("hyperdesk")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.1.0"

# asyncssh still names DSA keys; the cryptography release we pin warns about them at import, on every
# command that reaches SSH. hyperdesk never uses DSA keys: the warning says nothing to our users.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh\.")
