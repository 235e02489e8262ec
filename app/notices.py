"""What the window tells the user in its notice bar, with how serious it is: `info` (something
happened that the user should know, nothing is wrong: a reply stopped because they switched
conversation), `warning` (something was lost, refused or degraded and the user may act: a damaged
row left out, a message that does not fit, a slow CPU) and `error` (what was asked failed: a model
that did not load, a reply that failed, an export that could not be written). Only errors are
drawn as errors (red).

How long a notice stays is decided here, once, by what it is about (`About`): each kind lasts until
one of the moments in `LASTS_UNTIL` (`Moment`: another model chosen, another conversation opened,
the message box emptied), when it no longer describes the window; the user can dismiss any notice
sooner, and a new notice takes the place of the old one. The window reports the moments
(ui/notice_bar.py `NoticeBar.follow`), never deciding per notice."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Moment(StrEnum):
    """What happens in the window that can make a notice untrue."""

    MODEL_CHOSEN = "another model chosen"  # the model in the settings changed, or a model's terms are asked
    CONVERSATION_CHANGED = "another conversation opened"  # or a new one
    MESSAGE_EMPTIED = "the message box emptied"  # cleared by the user, sent, or another conversation's draft


class About(StrEnum):
    """What a notice is about, which decides how long it is true."""

    STANDING = "standing"  # the app, its files or the machine (a settings file set aside, a slow CPU)
    MODEL_CHOICE = "model choice"  # what became of a model the user chose (its terms declined)
    CONVERSATION = "conversation"  # the open conversation (one of its replies failed)
    MESSAGE = "message"  # the message in the box (it does not fit)
    REPLY_WITH_MODEL = "reply with model"  # a reply of the open conversation with the loaded model (not its writer)


LASTS_UNTIL: dict[About, frozenset[Moment]] = {
    About.STANDING: frozenset(),
    About.MODEL_CHOICE: frozenset({Moment.MODEL_CHOSEN}),
    About.CONVERSATION: frozenset({Moment.CONVERSATION_CHANGED}),
    About.MESSAGE: frozenset({Moment.MESSAGE_EMPTIED, Moment.CONVERSATION_CHANGED}),
    About.REPLY_WITH_MODEL: frozenset({Moment.MODEL_CHOSEN, Moment.CONVERSATION_CHANGED}),
}


@dataclass(frozen=True)
class Notice:
    """One notice: plain text (never markup), its level, and what it is about."""

    text: str
    level: Level
    about: About = About.STANDING

    def outlived_by(self, moment: Moment) -> bool:
        """Whether `moment` makes this notice untrue (then it goes)."""
        return moment in LASTS_UNTIL[self.about]

    @classmethod
    def info(cls, text: str, about: About = About.STANDING) -> Notice:
        return cls(text, Level.INFO, about)

    @classmethod
    def warning(cls, text: str, about: About = About.STANDING) -> Notice:
        return cls(text, Level.WARNING, about)

    @classmethod
    def error(cls, text: str, about: About = About.STANDING) -> Notice:
        return cls(text, Level.ERROR, about)
