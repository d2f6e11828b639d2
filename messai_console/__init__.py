"""messai-console: the operator's console, worker and CLI for the MESSAI job queues."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("messai-console")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
