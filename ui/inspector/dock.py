"""The Inspector dock: the pipeline's steps on the left, the selected step's view on the right, and
a strip on top that traces the inspected token's path with the real shapes.

Every view lays out to the width it is given (a table scrolls itself, an image is drawn to the
width, a row of controls takes more lines): nothing scrolls sideways. What is taller than the dock
(a large text size, a short window) scrolls up and down in it, never squeezed until its text is
cut. Narrower than `NARROW` pixels, or than the steps list and `VIEW_ROOM_CHARS` characters of view
beside it at the text size, the steps list gives its room to the view and the steps are chosen
from a drop-down above it. Reports are shown latest-wins, at most one
every `REFRESH_MS` (a followed reply sends one per token), only the open view is filled, and only
that view takes part in the layout, so a report costs one view's work however many steps there are.
"""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import QEvent, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QStyleOptionComboBox,
    QStyleOptionDockWidget,
    QStyleOptionFrame,
    QStylePainter,
    QVBoxLayout,
    QWidget,
)  # fmt: skip

from app.inspector import InspectorService
from ui.inspector.base import StepView, piece
from ui.inspector.flow_row import FlowRow
from ui.inspector.model_views import AttentionView, EmbeddingView, LogitLensView, PositionView, ResidualView
from ui.inspector.output_views import LMHeadView, LoopView, ObjectiveView, SamplingView
from ui.inspector.text_views import DetokenizationView, TextEncodingView, TokenizationView, VocabularyView
from ui.text_format import percent, visible_piece


def path_strip(report: dict) -> str:
    """"'Paris' ← p 43% ← 49,152 logits ← [576] ← 30 blocks ← [33 × 576] ← 33 ids ← 'What is …'"."""
    m, T = report["model"], len(report["ids"])
    token = report["token"] if report["token"] is not None else report["step"]["next_token"][0][0]
    lp = report["token_logprob"] if report["token"] is not None else report["step"]["next_token"][0][1]
    text = report.get("user_message", "")
    text = visible_piece(text[:24]) + ("…" if len(text) > 24 else "")
    return (
        f"“{piece(report, token)}” ← p {percent(lp)} ← {m['vocab_size']:,} logits ← [{m['hidden']}] ← "
        f"{m['n_layers']} blocks ← [{T} × {m['hidden']}] ← {T:,} ids ← “{text}”"
    )


NO_STEP = "No step selected: right-click a token of a reply and choose Inspect."
INSPECTOR_MIN_WIDTH = 300  # the dock's narrowest: every view still lays out to it
INSPECTOR_READABLE = 520  # narrower than this, the Inspector opens as its own window instead of docked
INSPECTOR_SHARE = 0.45  # the part of the window a docked Inspector opens with
FLOATING_SIZE = (780, 720)  # the Inspector's own window, when it opens as one
NARROW = 720  # below this the steps list makes way for a drop-down above the view
VIEW_ROOM_CHARS = 60  # the view keeps at least this many average characters beside the steps list
REFRESH_MS = 200  # reports that come faster than this (a followed reply) are shown latest-wins


class StepPages(QWidget):
    """The views, one shown at a time. Unlike a QStackedWidget, the hidden views take no part in
    the layout: a QStackedWidget asks all thirteen for their sizes (every wrapped paragraph laid
    out again) whenever one label of the shown view changes."""

    def __init__(self, views: list[StepView], parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._views = views
        for view in views:
            view.hide()
            layout.addWidget(view)
        self._current = -1

    def setCurrentIndex(self, index: int) -> None:
        if index == self._current or not 0 <= index < len(self._views):
            return
        if self._current >= 0:
            self._views[self._current].hide()
        self._current = index
        self._views[index].show()

    def currentIndex(self) -> int:
        return self._current

    def currentWidget(self) -> StepView | None:
        return self._views[self._current] if self._current >= 0 else None

    def count(self) -> int:
        return len(self._views)

    def widget(self, index: int) -> StepView:
        return self._views[index]


class StepList(QListWidget):
    """The steps' titles, as wide as the widest at the current text size (every title whole)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def addItem(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().addItem(text)
        self._fit()

    def _fit(self) -> None:
        metrics = self.fontMetrics()
        widest = max((metrics.horizontalAdvance(self.item(i).text()) for i in range(self.count())), default=0)
        frame = 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width()
        self.setFixedWidth(widest + max(24, frame + metrics.averageCharWidth()))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()


class StepBox(QComboBox):
    """The steps as a drop-down (a narrow Inspector): the chosen title cut with "…" where the box
    is narrower than it (a large text size), whole in the tooltip; the list shows every title whole."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.currentTextChanged.connect(self.setToolTip)

    def paintEvent(self, event) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)  # fmt: skip
        option.currentText = self.fontMetrics().elidedText(option.currentText, Qt.TextElideMode.ElideRight, field.width())
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)


class InspectorWidget(QWidget):
    """The steps list, the views, the path strip, follow / export controls."""

    def __init__(self, service: InspectorService, parent=None):
        super().__init__(parent)
        self.service = service
        self.views: list[StepView] = [
            TextEncodingView(), TokenizationView(), VocabularyView(), EmbeddingView(), PositionView(),
            AttentionView(), ResidualView(), LogitLensView(), LMHeadView(), SamplingView(), LoopView(),
            DetokenizationView(), ObjectiveView(),
        ]  # fmt: skip
        layout = QVBoxLayout(self)
        self.strip = QLabel(NO_STEP)
        self.strip.setObjectName("inspectorStrip")
        self.strip.setWordWrap(True)
        self.strip.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.strip)
        controls = FlowRow()  # a narrow Inspector or a large text size: a line each, never cut
        self.follow_box = QCheckBox("Follow the newest token")
        self.follow_box.toggled.connect(self._set_follow)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)  # a long status wraps; it never widens the Inspector
        self.status_label.setMinimumWidth(120)
        self.export_button = QPushButton("Export JSON…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.ask_export)
        controls.addWidget(self.export_button)  # first: a narrow Inspector keeps it in sight
        controls.addWidget(self.follow_box)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)  # its own row, wrapped: it never widens the Inspector
        self.steps = StepList()  # every title whole; in a narrow Inspector the drop-down replaces it
        self.step_box = StepBox()  # the steps, in a narrow Inspector (the list's room goes to the view)
        self.step_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.step_box.setMinimumContentsLength(12)
        self.step_box.hide()
        self.stack = StepPages(self.views)
        for view in self.views:
            self.steps.addItem(view.title)
            self.step_box.addItem(view.title)
        self.steps.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.steps.currentRowChanged.connect(self._sync_box)
        self.steps.currentRowChanged.connect(self._refresh)
        self.step_box.currentIndexChanged.connect(self.steps.setCurrentRow)
        self._report: dict | None = None
        self._pending: dict | None = None  # a report not shown yet (latest wins)
        self._shown_at = -1e9  # perf_counter() of the last report shown
        self._show_timer = QTimer(self)
        self._show_timer.setSingleShot(True)
        self._show_timer.timeout.connect(self._show_pending)
        self._stale: set[StepView] = set()  # views not yet filled from the newest report
        self.steps.setCurrentRow(0)  # the walk starts at step 1 (trial 6: opening at 8 hid the 7 before it)
        layout.addWidget(self.step_box)
        self.split = split = QWidget()  # the steps list (fixed width) beside the view
        row = QHBoxLayout(split)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.steps)
        row.addWidget(self.stack, 1)
        layout.addWidget(split, 1)
        layout.addStretch(0)  # with no step (the views hidden) the lines above stay at the top
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # it takes the width it gets
        self._narrow: bool | None = None

        self.attention.map_requested.connect(self._ask_map)
        self.attention.stop_requested.connect(service.stop_map)
        service.map_progress.connect(self.attention.show_progress)
        service.step_progress.connect(self._on_step_progress)
        self.lm_head.lookup_requested.connect(service.lookup)
        self.lm_head.continue_requested.connect(self._continue_with)
        self.view(EmbeddingView).analogy_requested.connect(service.analogy)
        service.analogy_ready.connect(self.view(EmbeddingView).show_analogy)
        self.sampling.settings_changed.connect(service.playground)
        self.sampling.use_settings.connect(self._use_settings)
        service.step_ready.connect(self.receive_report)
        service.map_ready.connect(self._on_map)
        service.playground_ready.connect(self.sampling.show_playground)
        service.lookup_ready.connect(self.lm_head.show_lookup)
        service.failed.connect(self._on_failed)
        service.refused.connect(lambda why: (self.clear(), self._set_status(why)))
        # another model: the step shown (and anything said about it) was the old model's
        service.controller.model_loaded.connect(lambda _info: self.clear())
        service.busy_changed.connect(lambda busy: self.status_label.setText("Computing…" if busy else self._status))
        self._status = ""

    def view(self, cls: type) -> StepView:
        return next(v for v in self.views if isinstance(v, cls))

    @property
    def attention(self) -> AttentionView:
        return self.view(AttentionView)

    @property
    def lm_head(self) -> LMHeadView:
        return self.view(LMHeadView)

    @property
    def sampling(self) -> SamplingView:
        return self.view(SamplingView)

    def select_step(self, title_prefix: str) -> StepView:
        """Open the step whose title starts with `title_prefix` (e.g. "6 ·")."""
        row = next(i for i, v in enumerate(self.views) if v.title.startswith(title_prefix))
        self.steps.setCurrentRow(row)
        return self.views[row]

    @property
    def narrow(self) -> bool:
        """True while the steps are chosen from the drop-down (the Inspector is narrower than NARROW)."""
        return bool(self._narrow)

    def narrow_below(self) -> int:
        """The width below which the steps are chosen from the drop-down: NARROW, or the steps
        list and VIEW_ROOM_CHARS characters of view at a large text size."""
        return max(NARROW, self.steps.width() + VIEW_ROOM_CHARS * self.fontMetrics().averageCharWidth())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._set_narrow(event.size().width() < self.narrow_below())

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            QTimer.singleShot(0, self, lambda: self._set_narrow(self.width() < self.narrow_below()))

    def _set_narrow(self, narrow: bool) -> None:
        if narrow == self._narrow:
            return
        self._narrow = narrow
        self.steps.setVisible(not narrow)
        self.step_box.setVisible(narrow and self.split.isVisibleTo(self))  # also while the dock itself is hidden (re-docked)

    def _sync_box(self, row: int) -> None:
        self.step_box.blockSignals(True)
        self.step_box.setCurrentIndex(row)
        self.step_box.blockSignals(False)

    def receive_report(self, report: dict) -> None:
        """A report from the worker: shown now, unless one was shown less than REFRESH_MS ago (a
        followed reply), then once that time is up, the newest of those that came meanwhile. A
        hidden Inspector keeps it for when it is opened."""
        self._pending = report
        if not self.isVisible():
            return
        wait_ms = REFRESH_MS - 1000 * (time.perf_counter() - self._shown_at)
        if wait_ms <= 0 and not self._show_timer.isActive():
            self._show_pending()
        elif not self._show_timer.isActive():
            self._show_timer.start(max(1, int(wait_ms)))

    def _show_pending(self) -> None:
        report, self._pending = self._pending, None
        if report is not None:
            self.show_report(report)

    def flush(self) -> None:
        """Show a report still waiting for its turn now (a step was opened, the Inspector shown)."""
        self._show_timer.stop()
        self._show_pending()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending is not None and not self._show_timer.isActive():
            self._show_timer.start(0)

    def show_report(self, report: dict) -> None:
        self._shown_at = time.perf_counter()
        self.strip.setText(path_strip(report))
        k = report["token_index"]
        whose = "the API request's reply" if report["source"] == "request" else "the reply"
        where = f"Token {k + 1} of {whose}" if k is not None else f"Position {report['position'] + 1:,} (your message)"
        self._set_status(
            f"{where} · {report['step']['cached_tokens']:,} of {report['position']:,} earlier "
            f"positions from the cache · {1000 * report['elapsed_s']:.0f} ms"
        )
        self.export_button.setEnabled(True)
        self.split.show()
        self.step_box.setVisible(self.narrow)
        self._report, self._stale = report, set(self.views)
        self._refresh(self.stack.currentIndex())

    def computing(self, text: str) -> None:
        """Say what is being computed where no step is shown yet (instead of "No step selected");
        what was said about the step before (an error) is about that step, not this one: it goes."""
        self._set_status("")
        if self._report is None and self._pending is None:
            self.strip.setText(text)

    def clear(self) -> None:
        """Show no step (the conversation changed): nothing of another conversation stays on
        screen, and an answer still on its way is dropped."""
        self.service.clear()
        self.strip.setText(NO_STEP)
        self._set_status("")
        self.export_button.setEnabled(False)
        self._show_timer.stop()
        self._report, self._pending, self._stale = None, None, set()
        self.split.hide()  # the views hold the old step's numbers until a new one is inspected
        self.step_box.hide()

    def _refresh(self, row: int) -> None:
        """Fill the shown view from the newest report (the others wait until they are opened, so a
        followed reply redraws one view per token, not thirteen)."""
        if self._pending is not None:  # a step opened while a report waits: the newest is shown
            self.flush()
            return
        view = self.views[row] if 0 <= row < len(self.views) else None
        if view is None or view not in self._stale:
            return
        self._stale.discard(view)
        view.show_report(self._report)
        records = self.service.reply_records() if isinstance(view, LoopView | DetokenizationView) else None
        if records is not None:
            tokens, stats = records
            if isinstance(view, LoopView):
                view.show_records(tokens, stats)
            else:
                view.show_records(tokens)

    def _on_step_progress(self, done: int, total: int) -> None:
        """A step whose context no cache holds (a conversation reopened after a restart) is read
        again first: say how far, instead of a bare "Computing…"."""
        self.status_label.setText(
            f"Computing… reading the context again (no cache holds it, e.g. after a restart): "
            f"{done:,} of {total:,} tokens"
        )

    def _on_failed(self, message: str) -> None:
        self.attention.map_finished()  # a map that failed or was stopped gives its controls back
        if self._report is None:
            self.strip.setText(NO_STEP)
        self._set_status(message)

    def _set_status(self, text: str) -> None:
        self._status = text
        self.status_label.setText(text)

    def _ask_map(self, layer: int, head: int) -> None:
        self.service.attention_map(layer, head)

    def _on_map(self, result: dict) -> None:
        self.attention.show_map(result)
        self._set_status(f"Full map: layer {result['layer']}, head {result['head']}.")

    def _continue_with(self, token_id: int) -> None:
        """Branch from an alternative: a new version of the reply from the inspected step."""
        report, index = self._report, self.service.message_index
        ok = report is not None and index is not None and report["token_index"] is not None
        if not ok or not self.service.controller.continue_with(index, report["token_index"], token_id):
            self._set_status("Only the last reply can continue with another token, once it has finished.")

    def _set_follow(self, on: bool) -> None:
        self.service.follow = on and self.isVisible()

    def _use_settings(self, sampling) -> None:
        controller = self.service.controller
        settings = replace(controller.settings, sampling=sampling)
        controller.apply_settings(settings)  # saved to the settings file like Preferences' OK
        self._set_status("These settings are now used for new replies (Preferences).")

    def ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the inspected step", "inspected-step.json", "JSON (*.json)")
        if path:
            self.service.export(path)


class InspectorDock(QDockWidget):
    opened = Signal()

    def __init__(self, service: InspectorService, parent=None):
        super().__init__("Inspector", parent)
        self.setObjectName("inspectorDock")
        self.inspector = InspectorWidget(service)
        self.scroll = QScrollArea()  # up and down only: each view lays out to the width it gets
        self.scroll.setObjectName("inspectorScroll")
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.inspector)
        self.setWidget(self.scroll)
        self._fit_scroll_step()
        self.setMinimumWidth(INSPECTOR_MIN_WIDTH)
        self.visibilityChanged.connect(self._follow_only_when_seen)
        self._floated_by_window = False  # floating because the window had no room (not by a drag)
        self._placing = False  # the window itself is docking or floating it now
        self.topLevelChanged.connect(self._on_top_level_changed)

    def _fit_scroll_step(self) -> None:
        """The wheel and the arrows move the Inspector by lines of its text at the text size."""
        self.scroll.verticalScrollBar().setSingleStep(self.fontMetrics().lineSpacing())

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit_scroll_step()

    def paintEvent(self, event) -> None:
        """The title in the dock's font now. QDockWidget paints it in the font the application had
        when the dock was made (Qt keeps that one), while the title bar is as tall as the current
        font: after a zoom the title was drawn too large for its bar, cut at the top and bottom."""
        platform = QGuiApplication.platformName().lower()
        native = self.isFloating() and platform != "xcb" and not platform.startswith("wayland")
        if self.titleBarWidget() is not None or native:  # the window manager draws the title
            super().paintEvent(event)
            return
        painter = QStylePainter(self)
        if self.isFloating():
            frame = QStyleOptionFrame()
            frame.initFrom(self)
            painter.drawPrimitive(QStyle.PrimitiveElement.PE_FrameDockWidget, frame)
        title = QStyleOptionDockWidget()
        self.initStyleOption(title)
        painter.drawControl(QStyle.ControlElement.CE_DockWidgetTitle, title)

    def _follow_only_when_seen(self, visible: bool) -> None:
        """A closed Inspector stops following (its worker time goes back to the reply); opened
        again, it follows if its box is still ticked."""
        self.inspector.service.follow = visible and self.inspector.follow_box.isChecked()

    @property
    def floated_for_room(self) -> bool:
        """A window of its own because the main window had no room for it docked (not a drag)."""
        return self.isFloating() and self._floated_by_window

    def _on_top_level_changed(self, _floating: bool) -> None:
        if not self._placing:  # the user dragged it out or in: where it is now is their choice
            self._floated_by_window = False

    def place(self, dockable: bool, beside: QRect, screen: QRect) -> None:
        """Where to open (called before it is shown): docked where the window has room for a
        readable Inspector (`dockable`), else a window of its own beside `beside` (the main
        window's frame). A window it was floated to for lack of room docks again once there is
        room; one the user dragged out stays where they put it."""
        if not dockable and not self.isFloating():
            self.open_floating(beside, screen)
        elif dockable and self.isFloating() and self._floated_by_window:
            self._placing = True
            try:
                self.setFloating(False)
            finally:
                self._placing = False
            self._floated_by_window = False

    def open_floating(self, beside: QRect, screen: QRect) -> None:
        """Float as a window of its own, FLOATING_SIZE (within the screen), to the right of `beside`
        (the main window's frame) where the screen has room, else over its right part."""
        self._placing = True
        try:
            self.setFloating(True)
        finally:
            self._placing = False
        self._floated_by_window = True
        w, h = min(FLOATING_SIZE[0], screen.width()), min(max(FLOATING_SIZE[1], beside.height()), screen.height())
        x = beside.right() + 1 if beside.right() + 1 + w <= screen.right() + 1 else max(screen.left(), beside.right() + 1 - w)
        y = min(max(screen.top(), beside.top()), screen.bottom() + 1 - h)
        self.setGeometry(x, y, w, h)

    def preferred_width(self, window_width: int, keep: int) -> int:
        """The width to open with in a window `window_width` wide that must keep `keep` pixels
        for the chat: a share of the window, at least a readable width where the window has it,
        never below the dock's minimum."""
        share = max(INSPECTOR_READABLE, int(window_width * INSPECTOR_SHARE))
        return max(INSPECTOR_MIN_WIDTH, min(share, window_width - keep))

    def inspect(self, message_index: int, token_index: int, picked: bool = True) -> None:
        """Inspect token `token_index` of the reply at `message_index`. picked: the user chose that
        token (a click, Inspect): the Inspector no longer follows the newest one, and says so by
        unticking Follow (False: opened on the panel's step, Ctrl+I, which keeps following)."""
        if picked:
            self.inspector.follow_box.setChecked(False)
        self.show()
        self.raise_()
        self.inspector.computing(f"Computing token {token_index + 1:,} of the reply…")
        self.inspector.service.inspect_token(message_index, token_index)

    def inspect_request(self, served, token_index: int) -> None:
        """Inspect token `token_index` of an API request's reply (View → API Requests)."""
        self.show()
        self.raise_()
        self.inspector.computing(f"Computing token {token_index + 1:,} of the API request's reply…")
        self.inspector.service.inspect_request(served, token_index)

    def follow_click_in_message(self, message_index: int, char_index: int) -> None:
        """An open Inspector moves to a clicked position of a user's message (a closed one stays closed)."""
        if self.isVisible():
            self.inspect_message(message_index, char_index)

    def inspect_message(self, message_index: int, char_index: int) -> None:
        """Inspect the token holding character `char_index` of the user message at `message_index`
        (picked by the user: the Inspector no longer follows the newest token)."""
        self.inspector.follow_box.setChecked(False)
        self.show()
        self.raise_()
        self.inspector.computing("Computing the step at that position of your message…")
        self.inspector.service.inspect_message(message_index, char_index)
