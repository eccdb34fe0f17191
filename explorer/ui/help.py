"""The help screen: every key the explorer answers to, and what it does.

Owns HelpScreen, built from the app's own bindings so it never drifts from them,
and the words it uses: keys as people write them, and a sentence for each action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar, Final

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Markdown

#: Keys as people write them (and the README does), where Textual's name or
#: symbol is not that; format_key, which turns "full_stop" into ".", does the rest.
KEY_NAMES: Final = {"question_mark": "?", "left": "left", "right": "right"}

#: What each action of the app does, for someone new to it, by the binding's
#: action. A binding without one is listed with its own short description.
DESCRIPTIONS: Final = {
    "step": "Step: run the next phase of the lifecycle against the broker "
    "(in operations, one operation per press)",
    "frame(-1)": "Previous frame: select the frame before the one shown",
    "frame(1)": "Next frame: select the frame after the one shown",
    "reveal": "Reveal the password (StartOk's, or 1.0's sasl-init's), or hide it again",
    "fold": "Fold runs of heartbeats into one row of the frame list, or unfold them",
    "quiz": "Quiz: questions on the lesson shown, answered from your own frames",
    "experiment": "Experiment: run one the lesson shown offers "
    "(a list when it offers several)",
    "run_all": "Run to the end: every remaining step, one after another",
    "race": "Race the clock, or stop: at your own pace the handshake runs at wire "
    "speed when TCP opens and each step reveals it; racing, each handshake step "
    "is held until you press, against the broker's 10 s handshake_timeout",
    "help": "Help: this list of keys",
    "screenshot_svg": "Screenshot: save the screen as an SVG file "
    "in the current directory",
    "restart": "Restart: close this connection properly and connect again",
    "quit": "Quit: the connection is closed properly first",
    "broker_view": "Broker's view: what RabbitMQ recorded of this connection "
    "(from rabbitmqctl or its management API) beside the wire, each difference "
    "with its rule, in the lesson's place; b again shows the lesson",
    "connection(1)": "Next connection: explore the next one in the list of "
    "connections (or choose one there: tab to it, or click)",
    "connection(-1)": "Previous connection: explore the one before in the list",
}

#: Gestures that are not the app's own bindings.
EXTRA: Final = [
    (
        "ctrl+p",
        "Command palette: jump to a phase, open a lesson or a topic lesson, run an "
        "experiment, restart, open a recording, change the theme",
    ),
    (
        "up, down, home, end",
        "Move in the focused pane: frame list, field tree, hex bytes",
    ),
    ("tab", "Move to the next pane"),
    ("click a byte", "Select the field that holds it"),
    ("click a field", "Highlight its bytes"),
    ("click a phase", "Show its lesson"),
]


def key_names(keys: str) -> str:
    """A binding's keys ("space,n", "ctrl+question_mark") as people write them."""
    return ", ".join(_key_name(key) for key in keys.split(","))


def _key_name(key: str) -> str:
    *modifiers, last = key.strip().split("+")
    return "+".join([*modifiers, KEY_NAMES.get(last) or format_key(last)])


class HelpScreen(ModalScreen[None]):
    """Lists every key; any key closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close")
    ]

    def __init__(
        self, bindings: Iterable[BindingType], described: Mapping[str, str] = {}
    ) -> None:
        """List `bindings` and the mouse and palette gestures; `described` says
        what an action does where it differs from DESCRIPTIONS."""
        super().__init__()
        descriptions = {**DESCRIPTIONS, **described}
        rows = [
            (key_names(b.key), descriptions.get(b.action, b.description))
            for b in bindings
            if isinstance(b, Binding)
        ]
        table = "\n".join(f"| `{key}` | {what} |" for key, what in [*rows, *EXTRA])
        self.text = (
            "# Keys\n\n| key | what it does |\n|---|---|\n"
            f"{table}\n\nPress escape to close."
        )

    def compose(self) -> ComposeResult:
        """The table of keys."""
        with VerticalScroll():
            yield Markdown(self.text)

    def on_key(self) -> None:
        """Any key closes the help."""
        self.dismiss()
