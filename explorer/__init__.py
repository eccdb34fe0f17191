"""amqp-explorer: see how a client connection to RabbitMQ works, frame by frame."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("amqp-explorer")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
