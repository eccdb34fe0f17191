"""Record the bundled AMQP 1.0 lifecycle, bundled/amqp10-lifecycle.jsonl.

Owns regenerating explorer/recording/bundled/amqp10-lifecycle.jsonl, never
edited by hand: a throwaway user (explorer-learner, a random password) is added
to the project's RabbitMQ 4.0 on 127.0.0.1:5673 (scripts/rabbitmq4, as root),
`amqp-explorer record --protocol 1.0` records one whole lifecycle with it, the
user is deleted, and the file is checked not to hold the password. Run
it as `.venv/bin/python scripts/record_amqp10.py`.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

from explorer.cli.main import main as explorer
from explorer.protocol.frames import Direction
from explorer.recording.capture import load
from explorer.recording.replay import bundled_amqp10_recording

ROOT = Path(__file__).resolve().parent.parent
#: The user the recording (and the pictures made from it) name.
USER = "explorer-learner"
#: The project's RabbitMQ 4.0, which speaks AMQP 1.0 natively.
ADDRESS = "127.0.0.1:5673"


def ctl(*args: str) -> None:
    """Run the RabbitMQ 4.0 node's rabbitmqctl."""
    subprocess.run([ROOT / "scripts" / "rabbitmq4", "ctl", "-q", *args], check=True)


def record(output: Path) -> int:
    """Record the lifecycle with a throwaway user; the recorder's exit status."""
    password = f"pw-{secrets.token_hex(12)}"
    ctl("add_user", USER, password)
    try:
        ctl("set_permissions", "-p", "/", USER, ".*", ".*", ".*")
        url = f"amqp://{USER}:{password}@{ADDRESS}/?heartbeat=2"
        status = explorer(["record", "--protocol", "1.0", url, "-o", str(output)])
    finally:
        ctl("delete_user", USER)
    capture = load(output)
    wire = [capture.stream(direction) for direction in Direction]
    if password in output.read_text() or any(password.encode() in b for b in wire):
        output.unlink()
        raise SystemExit(f"{output}: the password was in the recording; removed")
    return status


if __name__ == "__main__":
    sys.exit(record(bundled_amqp10_recording()))
