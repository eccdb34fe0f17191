"""`python -m explorer` runs the same command line as `amqp-explorer`."""

from __future__ import annotations

import sys

from explorer.cli.main import main

sys.exit(main())
