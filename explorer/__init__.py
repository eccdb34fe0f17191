"""amqp-explorer: see how a client connection to RabbitMQ works, frame by frame."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """Read ``__version__`` from the installed metadata only when asked for.

    Looked up lazily because importlib.metadata imports the email package, which
    imports socket, and the sans-I/O core must be importable without it.
    """
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("amqp-explorer")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"
