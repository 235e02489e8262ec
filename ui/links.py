"""Links in replies open only after the user has seen exactly where they go.

A model can write any link, including ones to files or programs on this computer. Web and mail
links open in the system's browser after a confirmation that shows the full address (and its exact
encoded form when that differs, so a look-alike domain shows itself). Every other scheme, relative
links included, is never opened: the dialog says so and offers to copy the address.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

WEB_SCHEMES = frozenset({"http", "https", "mailto"})


def is_web(url: QUrl) -> bool:
    """A web page with a host, or a mail address: the only links Glassbox offers to open."""
    scheme = url.scheme().lower()
    return scheme == "mailto" or (scheme in WEB_SCHEMES and bool(url.host()))


def describe(url: QUrl) -> str:
    """The address as a person reads it, plus its exact encoded form when they differ."""
    shown = url.toDisplayString()
    exact = bytes(url.toEncoded()).decode("ascii", "replace")
    return shown if exact == shown else f"{shown}\n\n(exactly: {exact})"


def ask(parent: QWidget | None, title: str, text: str, buttons: list[tuple[str, QMessageBox.ButtonRole]]) -> str:
    """Show a plain-text question; the label of the button pressed ("" when closed)."""
    box = QMessageBox(parent)
    box.setWindowTitle(title)
    box.setIcon(QMessageBox.Icon.Question)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    made = {box.addButton(label, role): label for label, role in buttons}
    box.exec()
    return made.get(box.clickedButton(), "")


def open_link(parent: QWidget | None, url: QUrl) -> bool:
    """Ask, then open a web or mail link; never open anything else. True when it was opened."""
    address = describe(url)
    if is_web(url):
        answer = ask(parent, "Open link", f"Open this link in your browser?\n\n{address}",
                     [("Open", QMessageBox.ButtonRole.AcceptRole), ("Copy Link", QMessageBox.ButtonRole.ActionRole),
                      ("Cancel", QMessageBox.ButtonRole.RejectRole)])  # fmt: skip
        if answer == "Open":
            return QDesktopServices.openUrl(url)
    else:
        answer = ask(parent, "Link not opened",
                     "This link points to a file or a program on this computer, not to a web page. "
                     f"Glassbox does not open such links from a reply.\n\n{address}",
                     [("Copy Link", QMessageBox.ButtonRole.ActionRole),
                      ("Close", QMessageBox.ButtonRole.RejectRole)])  # fmt: skip
    if answer == "Copy Link":
        QGuiApplication.clipboard().setText(url.toString())
    return False
