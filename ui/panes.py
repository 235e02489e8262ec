"""The side panes of the main window's splitter: shown, collapsed by the user, or folded away by
the window when it is too narrow, so the chat column keeps most of the width.

`SidePanes` owns a horizontal QSplitter of [left pane, chat, right pane]. Each side pane can be
collapsed by dragging its handle to the edge or by its View-menu toggle; the chat never collapses.
When the window narrows so far that the chat would get less than `chat_min` pixels, the right pane
folds away first, then the left one; in a window narrower than `narrow` pixels both fold away, so
the chat has the whole width; they come back when the window is wide enough again, unless
the user collapsed them meanwhile; a pane the window squeezed (a narrowing window, a docked
Inspector taking room) grows back to its width as soon as the chat can give it, and a squeezed width
is never taken as the pane's own: not when the layout is saved, not when it is restored. Widths are
in device-independent pixels.

A folded pane holds no width in the window's layout either (`PaneSplitter`): QSplitter counts a
collapsed child's minimum width in its own minimum, so a window with both panes folded still could
not give a docked Inspector the room they took.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QDataStream, QEvent, QObject, QSize, QTimer, Signal
from PySide6.QtWidgets import QSizePolicy, QSplitter, QWidget

CHAT_MIN_WIDTH = 420  # the chat column never gets less than this while a side pane could fold
CHAT_HARD_MIN = 280  # below this even a window with both panes folded cannot go
NARROW_WIDTH = 680  # narrower than this the list would take a third of the window: the side panes fold away (the user may open one again)


def smallest_width(widget: QWidget) -> int:
    """The width a layout can squeeze `widget` to (Qt's qSmartMinSize, horizontally): its minimum
    width when one is set, else its minimum size hint unless its policy ignores that."""
    if widget.minimumWidth() > 0:
        return widget.minimumWidth()
    if widget.sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Ignored:
        return 0
    return max(0, widget.minimumSizeHint().width())


class PaneSplitter(QSplitter):
    """A horizontal QSplitter whose minimum width counts only the children that take width: a side
    pane collapsed to 0 px (folded for room, closed from the View menu, dragged shut) asks for
    none, so the window can give that room to something else (a docked Inspector). Its handle
    still counts: it stays at the edge, to drag the pane open again."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().minimumSizeHint()
        sizes = self.sizes()
        width = 0
        for index in range(self.count()):
            widget, handle = self.widget(index), self.handle(index)
            if widget.isHidden():
                continue
            if not (sizes[index] == 0 and self.isCollapsible(index)):
                width += smallest_width(widget)
            if not handle.isHidden():
                width += max(0, handle.sizeHint().width())
        return QSize(width, hint.height())


class SidePanes(QObject):
    """Visibility of the two side panes of `splitter` (indices 0 and 2; the chat is 1)."""

    visibility_changed = Signal(int, bool)  # pane index (0 left, 2 right), now visible

    def __init__(self, splitter: QSplitter, widths: tuple[int, int], chat_min: int = CHAT_MIN_WIDTH,
                 narrow: int = NARROW_WIDTH):
        super().__init__(splitter)
        self.splitter = splitter
        self.chat_min, self.narrow = chat_min, narrow
        self._default = {0: widths[0], 2: widths[1]}
        self._last = dict(self._default)  # the width to give a pane when it opens again
        self._folded: set[int] = set()  # folded by the window for lack of room (not by the user)
        self._fitted_width: int | None = None  # the splitter's width at the last fit
        splitter.setChildrenCollapsible(True)
        splitter.setCollapsible(1, False)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.widget(1).setMinimumWidth(CHAT_HARD_MIN)
        splitter.splitterMoved.connect(self._on_moved)
        self._fit_timer = QTimer(self)  # after the splitter has shared out its new width
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self.fit)
        splitter.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.splitter and event.type() == QEvent.Type.Resize and (
            event.size().width() != event.oldSize().width()
        ):  # only a change of width: a taller status bar must not fold a pane the user just opened
            self._fit_timer.start()
        return False

    # -- queries ---------------------------------------------------------------------------

    def is_open(self, index: int) -> bool:
        """Whether the pane takes any width now."""
        return self.splitter.sizes()[index] > 0 and not self.splitter.widget(index).isHidden()

    def saved_state(self) -> QByteArray:
        """The splitter's state to keep across a restart: each side pane the user did not close at
        its own width (the one it opens and grows back to), not the width the window squeezed it
        to; a pane the window folded away for lack of room is kept open, so it comes back."""
        sizes = self.splitter.sizes()
        kept = list(sizes)
        for index in (0, 2):
            if sizes[index] > 0 or index in self._folded:
                kept[index] = self._last[index]
        self.splitter.setSizes(kept)
        state = self.splitter.saveState()
        self.splitter.setSizes(sizes)
        return state

    def restore(self, state: QByteArray) -> bool:
        """Restore a state `saved_state` wrote: the panes' saved widths become their own (read from
        the state itself: the splitter may not have its final width yet and would squeeze them).
        A state for another number of panes (saved before the conversation list existed) is
        ignored; returns whether it was restored."""
        sizes = saved_sizes(state)
        if len(sizes) != self.splitter.count() or not self.splitter.restoreState(state):
            return False
        self.splitter.updateGeometry()
        for index in (0, 2):
            if sizes[index] > 0:
                self._last[index] = max(sizes[index], self.splitter.widget(index).minimumWidth())
        return True

    def last_width(self, index: int) -> int:
        """The width the pane at `index` opens with."""
        return self._last[index]

    def chat_width(self) -> int:
        return self.splitter.widget(1).width()

    # -- intents ---------------------------------------------------------------------------

    def set_open(self, index: int, open_: bool) -> None:
        """Open or collapse a side pane (a user's choice: the window does not undo it). A pane
        opened in a window too narrow for both folds the other one away to make room; closed
        again, it gives that room back (the folded pane returns)."""
        self._folded.discard(index)
        self._fit_timer.stop()  # the user's choice comes after any resize still to be fitted
        self._fitted_width = self.splitter.width()
        if open_:
            other = 2 - index
            need = self.chat_min + max(self._last[index], self.splitter.widget(index).minimumWidth())
            if self.is_open(other) and self.splitter.width() - self.splitter.sizes()[other] < need:
                self._close(other)
                self._folded.add(other)
            chat_spare = self.splitter.sizes()[1] - self.chat_min  # the chat keeps its minimum if it can
            self._open(index, min(self._last[index], max(self.splitter.widget(index).minimumWidth(), chat_spare)))
        else:
            self._close(index)
            self.fit()  # a pane folded for this one's sake comes back
        self._announce()

    def fit(self) -> None:
        """As the window narrows, fold side panes away while the chat would be narrower than
        `chat_min` (right first), and both below `narrow`; bring back the ones folded earlier when
        there is room again. A pane the user opened is folded only when the window gets narrower
        after that."""
        total = self.splitter.width()
        if total <= 0:
            return
        narrowed = self._fitted_width is None or total < self._fitted_width
        self._fitted_width = total
        narrow = self.splitter.window().width() < self.narrow  # the window's, not what a docked Inspector leaves
        handle = self.splitter.handleWidth()
        for index in (2, 0):  # the next-token panel goes first, the conversation list after it
            sizes = self.splitter.sizes()
            if narrowed and self.is_open(index) and (sizes[1] < self.chat_min or narrow):
                self._close(index)
                self._folded.add(index)
        self._regrow()  # what the chat can give now (a pane was folded, or the window widened)
        for index in (0, 2):  # and come back in the opposite order
            if index not in self._folded or narrow:
                continue
            others = sum(self.splitter.sizes()[i] + handle for i in (0, 2) if i != index and self.is_open(i))
            room = total - others - handle - self.chat_min  # what the pane may take, the chat keeping its minimum
            if room >= self.splitter.widget(index).minimumWidth():
                self._folded.discard(index)
                self._open(index, min(self._last[index], room))
        self._announce()

    def make_room(self, width: int) -> None:
        """The splitter is about to get `width` px (something beside it, a docked Inspector, takes
        the rest): fold the side panes that would leave the chat less than `chat_min` (right first)
        and narrow the ones kept to what the chat can give, now, before the window lays out again
        (the panes' minimum widths would otherwise hold the splitter wider). As with `fit`, folded
        panes come back, at their own widths, when there is room again."""
        splitter = self.splitter
        handles = sum(splitter.handle(i).width() for i in range(1, splitter.count()) if not splitter.handle(i).isHidden())
        for index in (2, 0):  # the next-token panel goes first, the conversation list after it
            if not self.is_open(index):
                continue
            sizes = splitter.sizes()
            others = sum(sizes[i] for i in (0, 2) if i != index and self.is_open(i))
            room = width - others - handles - self.chat_min  # what the pane may keep, the chat keeping its minimum
            if room < splitter.widget(index).minimumWidth():
                self._close(index)
                self._folded.add(index)
            elif sizes[index] > room:
                sizes[1] += sizes[index] - room
                sizes[index] = room
                self._set_sizes(sizes)
        self._announce()

    # -- mechanics -------------------------------------------------------------------------

    def _regrow(self) -> None:
        """An open pane the splitter squeezed (the window narrowed, a docked Inspector took room)
        gets back its width (the user's last), as far as the chat keeps `chat_min` (left pane
        first)."""
        for index in (0, 2):
            sizes = self.splitter.sizes()
            want = self._last[index] - sizes[index]
            spare = sizes[1] - self.chat_min
            if self.is_open(index) and want > 0 and spare > 0:
                grow = min(want, spare)
                sizes[index] += grow
                sizes[1] -= grow
                self._set_sizes(sizes)

    def _open(self, index: int, width: int | None = None) -> None:
        """Show a pane at `width` px (default: its last width, as far as the chat can give)."""
        widget = self.splitter.widget(index)
        widget.show()
        sizes = self.splitter.sizes()
        if sizes[index] <= 0:
            room = sizes[1] - CHAT_HARD_MIN  # what the chat can give without going below its floor
            want = max(widget.minimumWidth(), min(self._last[index] if width is None else width, room))
            sizes[1] -= want
            sizes[index] = want
            self._set_sizes(sizes)

    def _close(self, index: int) -> None:
        """Collapse a pane. Its width is not taken as the one to reopen with: the splitter may
        have squeezed it while the window narrowed, and that width is the window's, not the pane's
        (the pane's own width comes from the user's drags, `_on_moved`, or `restore`)."""
        sizes = self.splitter.sizes()
        sizes[1] += sizes[index]
        sizes[index] = 0
        self._set_sizes(sizes)

    def _set_sizes(self, sizes: list[int]) -> None:
        """Give the panes and the chat these widths; the window's layout hears that the splitter's
        minimum changed (a pane that folds or opens gives or takes room there too)."""
        self.splitter.setSizes(sizes)
        self.splitter.updateGeometry()

    def _announce(self) -> None:
        """Say each pane's state (always: a menu's checkmark may have been toggled meanwhile)."""
        for index in (0, 2):
            self.visibility_changed.emit(index, self.is_open(index))

    def _on_moved(self, _pos: int, _handle: int) -> None:
        """A handle was dragged: a pane dragged shut is the user's choice, one dragged open too."""
        self.splitter.updateGeometry()  # a pane dragged shut holds no width in the window's layout
        for index in (0, 2):
            if self.splitter.sizes()[index] > 0:
                self._last[index] = self.splitter.sizes()[index]
                self._folded.discard(index)
        self._announce()



def saved_sizes(state: QByteArray) -> list[int]:
    """The pane widths a QSplitter state holds ([] if it is not one): QSplitter::saveState writes
    a marker, a version, then the sizes as a list of ints."""
    stream = QDataStream(state)
    stream.readInt32()  # QSplitter's marker
    stream.readInt32()  # its version
    count = stream.readUInt32()
    sizes = [stream.readInt32() for _ in range(min(count, 64))]
    return sizes if stream.status() == QDataStream.Status.Ok and len(sizes) == count else []
