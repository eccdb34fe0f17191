"""The negotiation and authentication panels, filled from the phase reports.

Owns NegotiationPanel (channel_max, frame_max, heartbeat: what the broker
proposed, what the client asked, what TuneOk carried; in AMQP 1.0,
max-frame-size, channel-max and idle-time-out: what each open announced and
what holds), AuthPanel (mechanisms offered, the one chosen, the SASL
response decoded and masked unless revealed, the broker's verdict; in 1.0
from sasl-mechanisms, sasl-init and sasl-outcome) and ExperimentPanel (what
an experiment changes while it runs; once it ended, what it expected beside
what the broker did, and the broker's log lines about it).
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from explorer.protocol.amqp10.frames import Body
from explorer.protocol.amqp10.report import OPEN_RULES
from explorer.protocol.dialect import AMQP_0_9_1, AMQP_1_0, Dialect
from explorer.protocol.fields import JSON
from explorer.protocol.frames import Frame
from explorer.protocol.report import sasl_response


class NegotiationPanel(Static):
    """Tune and TuneOk side by side; in AMQP 1.0, the two opens."""

    DEFAULT_CSS = """
    NegotiationPanel { height: auto; padding: 0 1; }
    """

    def on_mount(self) -> None:
        """Start empty."""
        self.clear()

    def clear(self, dialect: Dialect = AMQP_0_9_1) -> None:
        """Nothing negotiated yet in a connection speaking `dialect`."""
        self.border_title = "Negotiation"
        frames = "the two opens" if dialect is AMQP_1_0 else "Tune/TuneOk"
        self.update(Text(f"{frames} not on the wire yet", style="dim"))

    def show(self, facts: dict[str, JSON]) -> None:
        """Show the tune phase's report, or a 1.0 open phase's."""
        if any(name in facts for name in OPEN_RULES):
            self.update(_opens(facts))
            return
        table = Table(box=None, padding=(0, 1, 0, 0), expand=False)
        table.add_column("", no_wrap=True)
        for column in ("broker", "asked", "TuneOk"):
            table.add_column(column, justify="right", no_wrap=True)
        for name in ("channel_max", "frame_max", "heartbeat"):
            row = facts.get(name)
            if isinstance(row, dict):
                asked = row.get("client_asked")
                table.add_row(
                    name,
                    str(row.get("broker_proposed")),
                    "—" if asked is None else str(asked),
                    str(row.get("tune_ok_carried")),
                )
        self.update(table)


def _opens(facts: dict[str, JSON]) -> Group:
    """A 1.0 open phase's report: what each open announced, then what holds.

    An absent field reads "—" (the spec's default applies: the holds line
    says which).
    """
    table = Table(box=None, padding=(0, 1, 0, 0), expand=False)
    table.add_column("", no_wrap=True)
    for column in ("client", "broker"):
        table.add_column(column, justify="right", no_wrap=True)
    holds = Text()
    for name in OPEN_RULES:
        row = facts.get(name)
        if not isinstance(row, dict):
            continue
        client, broker = row.get("client"), row.get("broker")
        table.add_row(
            name,
            "—" if client is None else str(client),
            "—" if broker is None else str(broker),
        )
        holds.append(f"\n{name}", style="bold")
        holds.append(f": {row.get('holds', '')}")
    return Group(table, Text("what holds", style="bold") + holds)


class AuthPanel(Static):
    """The SASL exchange: what was offered, chosen, sent and answered."""

    DEFAULT_CSS = """
    AuthPanel { height: auto; padding: 0 1; }
    """

    def on_mount(self) -> None:
        """Start empty."""
        self.clear()

    def clear(self, dialect: Dialect = AMQP_0_9_1) -> None:
        """No authentication yet in a connection speaking `dialect`."""
        self.border_title = "Authentication"
        self.facts: dict[str, JSON] = {}
        self.sent: Frame | None = None
        frame = "sasl-init" if dialect is AMQP_1_0 else "Connection.StartOk"
        self.update(Text(f"{frame} not on the wire yet", style="dim"))

    def show(
        self, facts: dict[str, JSON], sent: Frame | None, reveal: bool = False
    ) -> None:
        """Show the auth phase's report; `sent` is the frame that carried the
        response (Connection.StartOk, or 1.0's sasl-init), unmasked when
        revealing."""
        self.facts, self.sent = facts, sent
        self.reveal(reveal)

    def reveal(self, reveal: bool) -> None:
        """Show or hide the password in the decoded response."""
        if not self.facts:
            return
        mechanism = str(self.facts.get("mechanism", ""))
        response = self.facts.get("response")
        payload = None if self.sent is None else self.sent.payload
        if isinstance(payload, Body):  # 1.0: the report's response is one string
            sent = payload.fields.get("initial-response")
            response = sasl_response(mechanism, sent or b"", reveal)
        elif reveal and payload is not None:
            response = sasl_response(mechanism, getattr(payload, "response", ""), True)
        offered = self.facts.get("mechanisms_offered") or self.facts.get("mechanisms")
        lines = Text()
        lines.append("offered  ", style="bold")
        lines.append(" ".join(map(str, offered)) if isinstance(offered, list) else "")
        lines.append("\nchosen   ", style="bold")
        lines.append(mechanism)
        lines.append("\nresponse", style="bold")
        if not reveal:
            lines.append("  (r reveals)", style="dim")
        for key, value in _response_parts(response):
            lines.append(f"\n  {key:<9}", style="bold")
            lines.append(value)
        verdict = self.facts.get("verdict")
        if verdict:
            lines.append("\nverdict  ", style="bold")
            lines.append(str(verdict))
        self.update(lines)


def _response_parts(response: JSON) -> list[tuple[str, str]]:
    """The decoded response, one (name, value) per line."""
    if isinstance(response, dict):
        return [(str(k), repr(v) if v == "" else str(v)) for k, v in response.items()]
    return [("value", str(response))]


class ExperimentPanel(Static):
    """An experiment: what it changes; at the end, expected beside observed.

    What the broker is expected to do is never shown before the run ends: the
    learner may just have predicted it.
    """

    DEFAULT_CSS = """
    ExperimentPanel { height: auto; padding: 0 1; display: none; }
    ExperimentPanel.-shown { display: block; }
    """

    def clear(self) -> None:
        """No experiment running: the panel is hidden."""
        self.remove_class("-shown")
        self.update("")

    def start(self, name: str, title: str) -> None:
        """The experiment `name` began: say what it changes (its `title`)."""
        self._open(name)
        lines = Text()
        lines.append("changed  ", style="bold")
        lines.append(title)
        lines.append("\nwhat was expected shows here at the end", style="dim")
        self.update(lines)

    def show(self, facts: dict[str, JSON], notes: tuple[str, ...]) -> None:
        """Show the experiment's conclusion."""
        self._open(str(facts.get("experiment", "")))
        lines = Text()
        passed = facts.get("as_expected") is True
        lines.append("✓ as expected" if passed else "✗ not as expected", style="bold")
        lines.append(f"\nexpected {facts.get('expected', '')}")
        for note in notes:
            lines.append(f"\n{note}")
        log = facts.get("broker_log")
        lines.append("\nbroker log", style="bold")
        if isinstance(log, list):
            for line in log:
                lines.append(f"\n {line}", style="dim")
        else:
            lines.append(f" {log}", style="dim")
        self.update(lines)

    def _open(self, name: str) -> None:
        """Show the panel, titled with the experiment's name."""
        self.border_title = f"Experiment: {name}"
        self.add_class("-shown")
