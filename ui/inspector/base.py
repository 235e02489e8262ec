"""What every Inspector view shares: a title, a one-paragraph explanation, tables of real values."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QSize, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.text_format import visible_piece


class StepView(QWidget):
    """One step of the pipeline. Subclasses set `title` and `explanation` and fill `show_report`."""

    title = ""
    explanation = ""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layout_ = QVBoxLayout(self)
        heading = QLabel(f"<b>{self.title}</b>")
        heading.setWordWrap(True)  # a large text size in a narrow Inspector: on two lines, never cut
        about = QLabel(self.explanation)
        about.setWordWrap(True)
        about.setObjectName("inspectorExplanation")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("inspectorSummary")
        for w in (heading, about, self.summary):
            self.layout_.addWidget(w)

    def show_report(self, report: dict) -> None:
        raise NotImplementedError

    def add_table(self, headers: list[str], stretch: Sequence[int] | None = None) -> StepTable:
        """A table with `headers`. The columns in `stretch` (default: the last) share what is left of
        the view's width once the others have the width their text needs, and elide a long text (whole
        in its tooltip): a table never scrolls sideways in an Inspector as wide as its other columns,
        and a column not in `stretch` (a number) is never cut by a long label beside it."""
        table = StepTable(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setResizeContentsPrecision(100)  # sized from 100 rows, not all 1,000
        for column in [len(headers) - 1] if stretch is None else stretch:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.layout_.addWidget(table, 1)
        return table


class StepTable(QTableWidget):
    """A view's table: its rows are as tall as a line of its text at the text size (Qt keeps the
    height they had when the table was made, and a zoomed line was cut at the bottom), and it asks
    for the room of a few rows, taking more where the view has it (the view scrolls in a short
    dock rather than squeezing a table to its header)."""

    HINT_ROWS = 5

    def __init__(self, rows: int, columns: int, parent=None):
        super().__init__(rows, columns, parent)
        self._fit_rows()

    def row_height(self) -> int:
        """px per row: a line of the font and some room, never below the style's own height."""
        least = self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderDefaultSectionSizeVertical, None, self)
        return max(least, self.fontMetrics().height() + 8)

    def _fit_rows(self) -> None:
        self.verticalHeader().setDefaultSectionSize(self.row_height())
        header = self.horizontalHeader()
        if header.count():  # the header's height is worked out again for its font
            header.headerDataChanged(header.orientation(), 0, header.count() - 1)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit_rows()
            self.updateGeometry()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().sizeHint()
        frame = 2 * self.frameWidth()
        rows = self.horizontalHeader().sizeHint().height() + self.HINT_ROWS * self.row_height()
        return QSize(hint.width(), rows + frame + self.horizontalScrollBar().sizeHint().height())


def fill(table: QTableWidget, rows: list[list]) -> None:
    """Put `rows` (already formatted strings or numbers) into `table` (a row it kept in view is
    forgotten: `show_row` marks one of the new rows)."""
    if keeper := table.findChild(_KeptInView):
        keeper.forget()
    table.setUpdatesEnabled(False)
    table.setRowCount(len(rows))
    header = table.horizontalHeader()
    stretched = {c for c in range(table.columnCount()) if header.sectionResizeMode(c) == QHeaderView.ResizeMode.Stretch}
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem(str(value))
            if c in stretched:
                item.setToolTip(item.text())  # a stretched column may be elided to the view's width
            table.setItem(r, c, item)
    table.resizeColumnsToContents()  # this sizes the stretched columns to their text too: stretched again
    header.resizeSections()  # to what is left of the width (their Stretch mode)
    table.setUpdatesEnabled(True)


class _KeptInView(QObject):
    """Watches a table's viewport: when it is resized (the view shown at its real size, the dock
    resized) and the marked row is no longer seen whole, the row is scrolled back to the middle;
    once the user scrolls the table (its bar, the wheel), where they scrolled to stays."""

    def __init__(self, table: QTableWidget):
        super().__init__(table)
        self.table, self.row = table, -1
        table.viewport().installEventFilter(self)
        table.verticalScrollBar().actionTriggered.connect(self.forget)

    def forget(self, _action: int = 0) -> None:
        self.row = -1

    def scroll(self) -> None:
        table, row = self.table, self.row
        index = table.model().index(row, 0)
        if 0 <= row < table.rowCount() and not table.viewport().rect().contains(table.visualRect(index)):
            table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Resize:
            QTimer.singleShot(0, self, self.scroll)  # once the scroll bar's range has the new height
        return False


def show_row(table: QTableWidget, row: int) -> None:
    """Select `row` and scroll it to the middle of `table`, and keep it seen whole when the table
    is resized before the user scrolls it out (a table filled while its view was hidden scrolled
    for a stale height, and showed the row half under its bottom edge, verify 6)."""
    keeper = table.findChild(_KeptInView) or _KeptInView(table)
    keeper.row = row
    table.selectRow(row)
    table.scrollTo(table.model().index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
    QTimer.singleShot(0, keeper, keeper.scroll)  # again once the rows just filled are laid out


def whose_token(report: dict) -> str:
    """Who wrote the selected token, as a sentence starts: "Your message's token" for a step
    opened on the user's own message (source "message"), else "The reply's token"."""
    return "Your message's token" if report.get("source") == "message" else "The reply's token"


def piece(report: dict, token: int | None) -> str:
    """A token's text with spaces and newlines visible ("" for None)."""
    if token is None:
        return ""
    return visible_piece(report["names"].get(token, report["names"].get(str(token), "")))
