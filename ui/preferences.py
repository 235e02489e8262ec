"""The Preferences dialog: decoding settings, chat, model, cache and display, validated as you type.

Numbers are spin boxes whose ranges are the validation's own (`app.setting_ranges`), so most bad
values cannot be typed at all; what is left (a context length of 100, an unreadable stop string)
shows its problem in place of the field's hint, so the dialog neither jumps nor keeps blank space
for errors. Save stays disabled while any field has a problem. Restore Defaults resets the tab on
screen only, and says so. Before saving, the dialog says when the change makes the next reply read
the whole conversation again (a new system prompt, KV cache kind or model cannot reuse the cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace

from PySide6.QtCore import QRect, QRegularExpression, QSize, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import stop_strings
from app.models import ModelRegistry, describe
from app.setting_ranges import NUMBER_RANGES
from app.settings import KV_CACHE_KINDS, THEMES, AppSettings, Settings, default_sampling
from engine.sampling import SamplingSettings
from ui.model_picker import ask_model_file, ask_model_folder
from ui.server_tab import SERVER_FIELDS, ServerTab

# (field, label, kind, hint) — kind: "float", "int" or "seed" (empty means random)
# The hints say what engine.sampling does, in its order: penalties first (on the tokens of the
# recent text, the prompt's too), then temperature, then the filters; so "most likely" is always
# "after the penalties" (trial 6: a temperature-0 reply took the model's second choice, the
# penalties having ranked it first).
DECODING_FIELDS = [
    ("temperature", "Temperature", "float",
     "0 = always the token ranked first after the penalties (the model's own first choice when they are "
     "off); higher = more varied"),
    ("top_k", "Top-k", "int", "keep only the k tokens ranked first after the penalties"),
    ("top_p", "Top-p", "float",
     "keep the likeliest tokens (after the penalties and temperature) up to this total probability; 1 = off"),
    ("min_p", "Min-p", "float",
     "drop tokens less likely than this times the best one (after the penalties and temperature)"),
    ("repetition_penalty", "Repetition penalty", "float",
     "1 = off; above 1 makes tokens already in the recent text (your message's too) less likely, "
     "below 1 more likely"),
    ("presence_penalty", "Presence penalty", "float",
     "taken off the score of each token already in the recent text, once; below 0 favours them"),
    ("frequency_penalty", "Frequency penalty", "float",
     "taken off a token's score once for each time it is in the recent text; below 0 favours them"),
    ("seed", "Seed", "seed", "empty = a different random draw each time"),
]  # fmt: skip
APP_NUMBER_FIELDS = [
    ("max_new_tokens", "Max new tokens", "int", "the longest a reply may be"),
    ("context_length", "Context length", "int", "the model's own context window, or fewer tokens"),
    ("panel_top_k", "Panel top-k", "int", "candidates shown per column in the next-token panel"),
]
CACHE_NUMBER_FIELDS = [
    ("kv_window", "Window", "int", "tokens a rotating cache keeps; attention sees only these"),
    ("prompt_cache_entries", "Cached prompts", "int", "how many earlier prompts' caches are kept in memory"),
    ("prompt_cache_mb", "Cache memory (MB)", "int", "the most memory those caches may hold"),
]
DISPLAY_NUMBER_FIELDS = [("zoom_percent", "Text size (%)", "int", "Ctrl + and Ctrl − change it too; Ctrl 0 resets")]
KV_KIND_HINTS = {
    "plain": "keys and values as float32: exact, the most memory",
    "rotating": "float32, but only the last window tokens are kept and attended to",
    "quantized8": "8-bit keys and values: greedy replies matched the plain cache in our checks",
    "quantized4": "4-bit keys and values: the least memory, replies change within a few tokens",
}
STOP_HINT = (
    "one per line, matched exactly (case-sensitive: “END” does not stop at “end”); "
    "write a line break as \\n, a tab as \\t, a backslash as \\\\"
)
# What a change of each of these makes the prompt cache unable to serve (the conversation is re-read)
CACHE_BREAKERS = {"system_prompt": "the system prompt", "kv_cache": "the KV cache kind", "model": "the model"}


def kv_cost_text(kind: str, info: dict | None) -> str:
    """What one cached token costs with the loaded model, e.g. "12,960 bytes per token (3.6× less…)"."""
    costs = (info or {}).get("kv_bytes_per_token_by_kind") or {}
    if kind not in costs:
        return "Load a model to see what each cached token costs."
    plain, cost = costs.get("plain", 0), costs[kind]
    text = f"{cost:,} bytes per token"
    if state := info.get("kv_state_bytes"):  # a hybrid model's linear-attention layers
        text = f"{state:,} bytes of recurrent state, whatever the length, and {text}"
    if kind == "plain":
        formula = info.get("kv_formula")  # the architecture's own layout, e.g. MLA's latent
        return f"{text} = {formula} × 4 bytes" if formula else text
    if kind == "rotating":
        return f"{text}, for at most the window's tokens"
    return f"{text}: {plain / cost:.1f}× less than plain" if cost and plain else text


def cache_breaking_changes(before: Settings, after: Settings) -> list[str]:
    """The changes, in words, that stop the prompt cache from serving the next reply."""
    changed = [words for name, words in CACHE_BREAKERS.items() if getattr(before.app, name) != getattr(after.app, name)]
    if after.app.kv_cache == "rotating" == before.app.kv_cache and before.app.kv_window != after.app.kv_window:
        changed.append("the cache window")
    return changed


def reread_text(changes: list[str], conversation_tokens: int | None) -> str:
    """"Changing the system prompt: the next reply will re-read the conversation (~1,200 tokens).\""""
    if not changes:
        return ""
    what = " and ".join([", ".join(changes[:-1]), changes[-1]] if len(changes) > 1 else changes)
    size = f" (~{conversation_tokens:,} tokens)" if conversation_tokens else ""
    return f"Changing {what}: the next reply will re-read the conversation{size} instead of reusing the cache."


def scrolled(page: QWidget) -> QScrollArea:
    """A tab's page in a frameless scroll area: the page always gets the height its wrapped hints
    and problems need at the width it has (a form squeezed into a fixed dialog drew a wrapped hint
    over the box above it), and a dialog taller than the screen (a large text size) scrolls."""
    holder = QWidget()  # the page at its preferred height on top, any room left below it (never between rows)
    column = QVBoxLayout(holder)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(page)
    column.addStretch(1)
    area = QScrollArea()
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(holder)
    area.setObjectName("preferencesPage")
    return area


class FieldMessage(QLabel):
    """A field's hint, replaced by its problem while it has one, in the same place.

    Its height is the lines its text wraps to at the width it has, measured as the label draws them,
    and given to the layouts as its size hint (never through Qt's height-for-width, which QFormLayout
    follows only in part and which QLabel guesses: a 380 px hint read as two lines at 479 px, and a
    two-line problem was cut or drawn over the row below). When the lines change, the form moves
    the rows below by exactly that much.
    """

    def __init__(self, hint: str, parent=None):
        super().__init__(hint, parent)
        self.hint = hint
        self.setObjectName("fieldHint")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        policy = self.sizePolicy()
        policy.setHeightForWidth(False)
        self.setSizePolicy(policy)
        self._height = 0

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return False

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self._measure()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._measure()

    def lines_height(self, width: int) -> int:
        """The height the text takes at `width` pixels, as the label draws it."""
        margins = self.contentsMargins()
        room = QRect(0, 0, max(1, width - margins.left() - margins.right()), 1 << 20)
        text = self.fontMetrics().boundingRect(room, int(Qt.TextFlag.TextWordWrap), self.text() or " ").height()
        return text + margins.top() + margins.bottom()

    def _measure(self) -> None:
        height = self.lines_height(self.width() if self.width() > 0 else self.sizeHint().width())
        if height != self._height:
            self._height = height
            self.updateGeometry()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(super().sizeHint().width(), self._height or self.lines_height(400))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(super().minimumSizeHint().width(), self._height or self.lines_height(400))

    def show_problem(self, message: str | None) -> None:
        self.setText(message[:1].upper() + message[1:] if message else self.hint)
        self.setProperty("problem", bool(message))
        self.style().unpolish(self)
        self.style().polish(self)

    @property
    def problem(self) -> str | None:
        return self.text() if self.property("problem") else None


NUMBER_TEXT = QRegularExpression(r"^\s*[+-]?(\d[\d,]*)?([.]\d*)?([eE][+-]?\d*)?\s*%?\s*$")


def _lenient(base: type) -> type:
    """A spin box that lets any number be typed, out of its range too (Qt's own swallows a 9 typed
    into a box that ends at 2): what is out of range is said in place while it is typed, and set
    to the nearest end of the range when the box is left."""

    class Lenient(base):
        def validate(self, text: str, pos: int):
            state = super().validate(text, pos)
            if state[0] == QValidator.State.Invalid and NUMBER_TEXT.match(self._clean(text)).hasMatch():
                return (QValidator.State.Intermediate, text, pos)
            return state

        entering = False  # Enter is being handled (editingFinished comes from it, not from leaving)

        def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
            self.entering = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            try:
                super().keyPressEvent(event)
            finally:
                self.entering = False

        def _clean(self, text: str) -> str:
            return text.removeprefix(self.prefix()).removesuffix(self.suffix()).strip()

        def typed_number(self) -> float | None:
            """The number typed, whatever its range (None: not a number)."""
            try:
                return float(self._clean(self.lineEdit().text()).replace(",", "").rstrip("%"))
            except ValueError:
                return None

    Lenient.__name__ = f"Lenient{base.__name__}"
    return Lenient


LenientSpinBox, LenientDoubleSpinBox = _lenient(QSpinBox), _lenient(QDoubleSpinBox)


class NumberField(QWidget):
    """A spin box over the setting's accepted range (a line edit for the seed), and its message.

    Anything can be typed: a value out of range is named with the range while it is typed (Save
    waits), and leaving the box sets it to the nearest end of the range and says so."""

    changed = Signal()

    def __init__(self, name: str, kind: str, hint: str, parent=None):
        super().__init__(parent)
        self.name, self.kind = name, kind
        self.least: float | None = None  # a spin box's smallest accepted value above its lowest
        if kind == "seed":
            self.edit = QLineEdit()  # no validator: what is typed shows, and its problem is said
            self.edit.setPlaceholderText("random")
            self.edit.textChanged.connect(self.changed)
            self.control: QWidget = self.edit
        else:
            r = NUMBER_RANGES[name]
            spin = LenientSpinBox() if kind == "int" else LenientDoubleSpinBox()
            if kind == "float":
                spin.setDecimals(r.decimals)
            spin.setRange(int(r.control_min) if kind == "int" else r.control_min,
                          int(r.control_max) if kind == "int" else r.control_max)
            spin.setSingleStep(int(r.step) if kind == "int" else r.step)
            spin.setSpecialValueText(r.special)
            spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToPreviousValue)  # emptied: as it was
            spin.setAccelerated(True)
            spin.setGroupSeparatorShown(kind == "int" and r.control_max >= 10000)
            spin.valueChanged.connect(self.changed)
            spin.lineEdit().textChanged.connect(self.changed)
            spin.lineEdit().textEdited.connect(self._typed_now)
            spin.editingFinished.connect(self._left)
            self._typed: float | None = None  # the number last typed, until the box is left
            self.bounds_text = ""
            self.spin = spin
            self.edit = spin.lineEdit()  # what a person types into
            self.control = spin
            bounds = f"{_number(r.control_min)} to {_number(r.control_max)}" if r.high is not None else f"{_number(r.control_min)} or more"
            if r.least is not None:  # a hole above the lowest value: "0 or 256 to 1,048,576"
                bounds = f"{_number(r.control_min)} or {_number(r.least)} to {_number(r.control_max)}"
            self.least = r.least
            self.bounds_text = bounds
            hint = f"{hint} ({bounds}{'; ' + _number(r.low) + ' = ' + r.special if r.special else ''})"
            if name == "zoom_percent":
                spin.setSuffix(" %")
        self.control.setToolTip(hint)
        self.message = FieldMessage(hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.control)
        layout.addWidget(self.message)

    def set_value(self, value) -> None:
        if self.kind == "seed":
            self.edit.setText("" if value is None else str(value))
        else:
            self.spin.setValue(value)

    def parse(self):
        """The entered value, or raise ValueError with a message for the user."""
        text = self.edit.text().strip()
        if self.kind == "seed":
            if not text:
                return None
            if not text.isdigit() or int(text) >= 2**63:
                raise ValueError(f"“{text}” is not a seed: leave it empty (random) or write a whole number from 0 to 2^63 − 1")
            return int(text)
        if not text:
            raise ValueError("enter a number")
        if not self.spin.hasAcceptableInput():
            typed = self.spin.typed_number()
            if typed is None:
                raise ValueError(f"“{text}” is not a number: this box takes {self.bounds_text}")
            side = "small" if typed < self.spin.minimum() else "large" if typed > self.spin.maximum() else None
            if side:
                nearest = self.spin.minimum() if side == "small" else self.spin.maximum()
                raise ValueError(f"{_number(typed)} is too {side}: this box takes {self.bounds_text} "
                                 f"({_number(nearest)} when you leave it)")  # fmt: skip
            raise ValueError(f"“{text}” is not a value this box takes: {self.bounds_text}")
        if self.spin.specialValueText() and text == self.spin.specialValueText():
            value = self.spin.minimum()  # "off", "the model's own"
        else:
            value = self.spin.valueFromText(self.spin.cleanText())  # never re-format while someone types
        if self._in_gap(value):
            raise ValueError(f"{_number(value)} is not allowed: this box takes {self.bounds_text} "
                             f"({_number(self.least)} when you leave it)")  # fmt: skip
        return int(value) if self.kind == "int" else float(value)

    def _in_gap(self, value: float | None) -> bool:
        """Whether `value` falls in the refused gap above the lowest value (context 1 to 255)."""
        return self.least is not None and value is not None and self.spin.minimum() < value < self.least

    def _typed_now(self, _text: str) -> None:
        self._typed = self.spin.typed_number()

    def _left(self) -> None:
        """The box was left: a number out of range was set to the nearest end, one in the refused gap
        (context 1 to 255) to the smallest allowed value above it; say so."""
        typed, self._typed = self._typed, None
        low, high = self.spin.minimum(), self.spin.maximum()
        if typed is not None and not low <= typed <= high:
            self.spin.setValue(low if typed < low else high)  # the nearest end (Qt put the previous value back)
        self.changed.emit()  # the box holds an accepted value again: its problem goes
        if typed is not None and not low <= typed <= high:
            self.message.setText(f"{_number(typed)} is outside {self.bounds_text}: set to {_number(self.spin.value())}.")
        elif self._in_gap(refused := self.spin.value()) and not self.spin.entering:  # left, not Enter (no save)
            # the smallest usable value: the lowest one means something else ("the model's own")
            self.spin.setValue(int(self.least) if self.kind == "int" else self.least)
            self.changed.emit()
            self.message.setText(f"{_number(refused)} is not allowed ({self.bounds_text}): set to {_number(self.spin.value())}.")

    def show_error(self, message: str | None) -> None:
        self.message.show_problem(message)
        self.control.setProperty("invalid", bool(message))
        self.control.style().unpolish(self.control)
        self.control.style().polish(self.control)

    @property
    def error(self) -> FieldMessage:
        return self.message


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, registry: ModelRegistry, parent=None, model_info: dict | None = None,
                 conversation_tokens: int | None = None, own_system_prompt: bool = False):
        super().__init__(parent)
        self._model_info = model_info  # the loaded model's, for what each KV cache kind costs
        self._conversation_tokens = conversation_tokens  # what a cache-breaking change costs to re-read
        self._own_system_prompt = own_system_prompt  # the open conversation has its own: ours does not reach it
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(640)
        self._settings = settings
        self._registry = registry
        self._presets: list[tuple[str, str]] = list(settings.app.system_prompt_presets)
        self._restored = ""  # which tab was just reset to its defaults
        self._fitted = False  # sized to its tallest tab once, when first shown
        self.fields: dict[str, NumberField] = {}
        self._loaders: dict[str, Callable[[Settings], None]] = {}  # setting name -> fills its widget
        self.tabs = tabs = QTabWidget()
        tabs.setElideMode(Qt.TextElideMode.ElideRight)  # at a large text size on a small screen: never half a title
        self._tab_settings: list[tuple[str, list[str]]] = []  # (title, setting names on that tab)
        for title, build in (("Decoding", self._decoding_tab), ("Chat", self._chat_tab),
                             ("Model", self._model_tab), ("Cache", self._cache_tab), ("Display", self._display_tab),
                             ("Server", self._server_tab)):
            known = set(self._loaders)
            tabs.addTab(scrolled(build()), title)
            tabs.setTabToolTip(tabs.count() - 1, title)  # the title whole where a narrow screen cuts it with "…"
            self._tab_settings.append((title, [name for name in self._loaders if name not in known]))

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.restore_button = self.buttons.addButton("Restore Tab Defaults", QDialogButtonBox.ButtonRole.ResetRole)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.restore_button.clicked.connect(self.restore_defaults)
        self.summary = QLabel()  # problems, what Restore did, what saving will cost: always there
        self.summary.setObjectName("dialogNote")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setMinimumHeight(2 * self.summary.fontMetrics().lineSpacing())
        self.summary.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.load(settings)
        for field in self.fields.values():
            field.changed.connect(self.validate)
        self.system_prompt.textChanged.connect(self.validate)
        self.stop_edit.textChanged.connect(self.validate)
        self.model_combo.currentIndexChanged.connect(self.validate)
        self.server_tab.changed.connect(self.validate)
        tabs.currentChanged.connect(self._on_tab_changed)
        self._on_tab_changed(tabs.currentIndex())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            self._fit_pages()

    def _fit_pages(self) -> None:
        """Open tall enough for the tallest tab at this width (its wrapped hints included, every row
        at its preferred height), but no taller than the screen: then that tab scrolls."""
        area = self.tabs.currentWidget()
        width = area.viewport().width()
        needed = 0
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index).widget()
            page.layout().activate()
            wrapped = page.heightForWidth(width) if page.hasHeightForWidth() else 0
            needed = max(needed, wrapped, page.sizeHint().height())  # every row its preferred height
        needed += 2 * self.fontMetrics().lineSpacing()  # room for a problem a line longer than its hint
        chrome = self.height() - area.viewport().height()
        screen = self.screen().availableGeometry() if self.screen() else None
        tabs_wide = self.tabs.tabBar().sizeHint().width() + self.width() - self.tabs.width() + 4  # every title whole
        width = max(self.width(), min(tabs_wide, screen.width() - 40 if screen else tabs_wide))
        self.resize(width, min(needed + chrome, screen.height() - 40 if screen else needed + chrome))

    # -- tabs ------------------------------------------------------------------------------

    def _form(self) -> tuple[QWidget, QFormLayout]:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        return page, form

    def _add_numbers(self, form: QFormLayout, specs) -> None:
        for name, label, kind, hint in specs:
            self.fields[name] = field = NumberField(name, kind, hint)
            form.addRow(label, field)
            self._loaders[name] = lambda s, f=field, n=name: f.set_value(_value(s, n))

    def _decoding_tab(self) -> QWidget:
        page, form = self._form()
        self._add_numbers(form, DECODING_FIELDS)
        self._add_numbers(form, APP_NUMBER_FIELDS[:1])
        self.stop_edit = QPlainTextEdit()
        self.stop_edit.setAccessibleName("Stop strings")
        self.stop_edit.setPlaceholderText("None: a reply ends when the model ends it or at the token limit")
        self.stop_edit.setFixedHeight(4 * self.stop_edit.fontMetrics().lineSpacing() + 12)
        self.stop_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.stop_edit.setTabChangesFocus(True)  # Tab moves on, as in every field here (a tab is written \t)
        self.stop_message = FieldMessage(STOP_HINT)
        field = QWidget()  # a widget, not a nested layout: QFormLayout gives a layout row too little
        box = QVBoxLayout(field)  # height once its hint wraps, and the hint was drawn over the box
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(self.stop_edit)
        box.addWidget(self.stop_message)
        form.addRow("Stop strings", field)
        self._loaders["stop_strings"] = lambda s: self.stop_edit.setPlainText(stop_strings.show_all(s.app.stop_strings))
        return page

    def _chat_tab(self) -> QWidget:
        page, form = self._form()
        self.preset_combo = QComboBox()
        self.preset_combo.setAccessibleName("System prompt presets")
        self.preset_combo.activated.connect(self._use_preset)
        self.save_preset_button = save_preset = QPushButton("Save as Preset…")
        save_preset.clicked.connect(self._ask_preset_name)
        self.delete_preset_button = QPushButton("Delete Preset")
        self.delete_preset_button.clicked.connect(self._delete_preset)
        presets = QHBoxLayout()
        presets.addWidget(self.preset_combo, 1)
        presets.addWidget(save_preset)
        presets.addWidget(self.delete_preset_button)
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("No system prompt")
        form.addRow("Presets", presets)
        form.addRow("System prompt", self.system_prompt)
        note = FieldMessage("Every conversation uses this unless it has its own (File → Conversation Settings…).")
        form.addRow("", note)
        self._loaders["system_prompt"] = lambda s: self.system_prompt.setPlainText(s.app.system_prompt)
        self._fill_presets()
        return page

    def _model_tab(self) -> QWidget:
        page, form = self._form()
        self.model_combo = QComboBox()
        choose_file = QPushButton("Choose GGUF File…")
        choose_folder = QPushButton("Choose Model Folder…")
        choose_file.clicked.connect(self._choose_file)
        choose_folder.clicked.connect(self._choose_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(choose_file)
        buttons.addWidget(choose_folder)
        buttons.addStretch(1)
        form.addRow("Model", self.model_combo)
        form.addRow("", buttons)
        self._loaders["model"] = self._load_model_choice
        self._add_numbers(form, APP_NUMBER_FIELDS[1:2])
        return page

    def _cache_tab(self) -> QWidget:
        page, form = self._form()
        self.kv_kind_combo = QComboBox()
        for kind, label in KV_CACHE_KINDS.items():
            cost = (self._model_info or {}).get("kv_bytes_per_token_by_kind", {}).get(kind)
            self.kv_kind_combo.addItem(f"{label} — {cost:,} B/token" if cost else label, kind)
        self.kv_kind_combo.setToolTip(
            "How the model's attention keys and values are kept while it reads and writes.\n"
            "Bytes per token are the loaded model's; a change starts new caches from the next reply."
        )
        self.kv_cost = QLabel()
        self.kv_cost.setObjectName("fieldHint")
        self.kv_cost.setWordWrap(True)
        kind_box = QVBoxLayout()
        kind_box.setSpacing(2)
        kind_box.addWidget(self.kv_kind_combo)
        kind_box.addWidget(self.kv_cost)
        form.addRow("KV cache", kind_box)
        self._loaders["kv_cache"] = lambda s: self.kv_kind_combo.setCurrentIndex(
            max(0, self.kv_kind_combo.findData(s.app.kv_cache)))
        self._add_numbers(form, CACHE_NUMBER_FIELDS)
        self.disk_cache_check = QCheckBox("Keep prompt caches on disk")
        self.disk_cache_check.setToolTip(
            "Save each conversation's cache after a reply, so reopening it after a restart\n"
            "does not read the whole conversation again."
        )
        form.addRow("", self.disk_cache_check)
        self._loaders["prompt_cache_on_disk"] = lambda s: self.disk_cache_check.setChecked(s.app.prompt_cache_on_disk)
        self.kv_kind_combo.currentIndexChanged.connect(self._show_kv_kind)
        return page

    def _show_kv_kind(self) -> None:
        kind = self.kv_kind_combo.currentData()
        self.kv_cost.setText(f"{KV_KIND_HINTS[kind]}. {kv_cost_text(kind, self._model_info)}")
        self.fields["kv_window"].setEnabled(kind == "rotating")
        self.validate()

    def _display_tab(self) -> QWidget:
        page, form = self._form()
        self.theme_combo = QComboBox()
        for theme, label in THEMES.items():
            self.theme_combo.addItem(label, theme)
        form.addRow("Theme", self.theme_combo)
        self._loaders["theme"] = lambda s: self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(s.app.theme)))
        self._add_numbers(form, DISPLAY_NUMBER_FIELDS)
        self._add_numbers(form, APP_NUMBER_FIELDS[2:])
        self.tint_check = QCheckBox("Tint reply tokens by probability")
        form.addRow("", self.tint_check)
        self._loaders["probability_tint"] = lambda s: self.tint_check.setChecked(s.app.probability_tint)
        return page

    def _server_tab(self) -> QWidget:
        self.server_tab = ServerTab()
        for name in SERVER_FIELDS:
            self._loaders[name] = lambda s, n=name: self.server_tab.set_value(n, s.app)
        return self.server_tab

    # -- values ----------------------------------------------------------------------------

    def load(self, settings: Settings, names: list[str] | None = None) -> None:
        """Fill the widgets of `names` (every setting the dialog shows, by default) from `settings`."""
        for name in names if names is not None else list(self._loaders):
            self._loaders[name](settings)
        self._show_kv_kind()
        self.validate()

    def _load_model_choice(self, settings: Settings) -> None:
        self.model_combo.clear()
        for entry in self._registry.entries(settings.app):
            self.model_combo.addItem(entry.label, entry.spec)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(settings.app.model)))

    def defaults(self) -> Settings:
        """The default settings (the remembered models, presets and window layout are not settings to reset)."""
        app = self._settings.app
        keep = replace(AppSettings(), recent_models=app.recent_models, window_geometry=app.window_geometry,
                       splitter_state=app.splitter_state, system_prompt_presets=app.system_prompt_presets)
        return Settings(default_sampling(), keep)

    def restore_defaults(self) -> None:
        """Default values on the tab on screen only; the other tabs keep what they show."""
        title, names = self._tab_settings[self.tabs.currentIndex()]
        self.load(self.defaults(), names)
        self._restored = f"The {title} tab is back to its defaults (other tabs unchanged); Save to keep them."
        self.validate()

    def _on_tab_changed(self, index: int) -> None:
        title = self._tab_settings[index][0]
        self.restore_button.setToolTip(f"Reset the settings on the {title} tab to their defaults")

    def settings(self) -> Settings | None:
        """The settings as entered, or None while any field has a problem."""
        values, problems = self._parse()
        if problems:
            return None
        return self._build(values)

    def _parse(self) -> tuple[dict, dict[str, str]]:
        values, problems = {}, {}
        for name, field in self.fields.items():
            try:
                values[name] = field.parse()
            except ValueError as e:
                problems[name] = str(e)
        try:
            values["stop_strings"] = stop_strings.read_all(self.stop_edit.toPlainText())
        except stop_strings.StopStringError as e:
            problems["stop_strings"] = str(e)
        return values, problems

    def _build(self, values: dict) -> Settings:
        sampling_names = {f.name for f in fields(SamplingSettings)}
        sampling = replace(self._settings.sampling, **{k: v for k, v in values.items() if k in sampling_names})
        app = replace(
            self._settings.app,
            **{k: v for k, v in values.items() if k not in sampling_names},
            system_prompt=self.system_prompt.toPlainText(),
            probability_tint=self.tint_check.isChecked(),
            kv_cache=self.kv_kind_combo.currentData(),
            prompt_cache_on_disk=self.disk_cache_check.isChecked(),
            model=self.model_combo.currentData() or self._settings.app.model,
            theme=self.theme_combo.currentData(),
            system_prompt_presets=tuple(self._presets),
            **self.server_tab.values(),
        )
        return Settings(sampling, app)

    def validate(self) -> bool:
        """Show each field's problem in place; enable Save only when there is none; say what
        saving will cost the prompt cache."""
        if not hasattr(self, "summary"):
            return False  # still being built
        values, problems = self._parse()
        parsed_ok = {k: v for k, v in values.items() if k not in problems}
        built = self._build({**self._known_good(), **parsed_ok})
        problems = {**built.validate(), **problems}
        for name, field in self.fields.items():
            field.show_error(problems.get(name))
        self.stop_message.show_problem(problems.get("stop_strings"))
        shown = set(self.fields) | {"stop_strings"}
        count = sum(1 for name in problems if name in shown) + self.server_tab.show_problems(problems)
        for index, (title, names) in enumerate(self._tab_settings):
            # a problem on a tab that is not showing still has to be findable
            self.tabs.setTabText(index, title + (" ⚠" if any(n in problems for n in names) else ""))
        self.save_button.setEnabled(count == 0)
        if count:
            note = f"Fix {count} setting{'s' if count != 1 else ''} (tabs marked ⚠) to save."
        else:
            note = " ".join(t for t in (self._restored, self.reread_warning(built)) if t)
        self.summary.setText(note)
        self.summary.setProperty("problem", bool(count))
        self.summary.style().unpolish(self.summary)
        self.summary.style().polish(self.summary)
        return count == 0

    def reread_warning(self, settings: Settings | None = None) -> str:
        """What saving now costs the next reply ("" when the prompt cache still serves it)."""
        settings = settings or self.settings()
        if settings is None:
            return ""
        changes = cache_breaking_changes(self._settings, settings)
        if self._own_system_prompt:
            changes = [c for c in changes if c != CACHE_BREAKERS["system_prompt"]]
        return reread_text(changes, self._conversation_tokens)

    def _known_good(self) -> dict:
        values = {name: _value(self._settings, name) for name in self.fields}
        values["stop_strings"] = self._settings.app.stop_strings
        return values

    def accept(self) -> None:
        if self.validate():
            super().accept()

    # -- presets ---------------------------------------------------------------------------

    def _fill_presets(self, select: str | None = None) -> None:
        self.preset_combo.clear()
        self.preset_combo.addItem("Choose a saved system prompt…" if self._presets else "No presets saved yet", None)
        for name, _text in self._presets:
            self.preset_combo.addItem(name, name)
        if select is not None:
            self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(select)))
        self.preset_combo.setEnabled(bool(self._presets))
        self.delete_preset_button.setEnabled(bool(self._presets))

    def _use_preset(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        for preset_name, text in self._presets:
            if preset_name == name:
                self.system_prompt.setPlainText(text)

    def save_preset(self, name: str) -> str | None:
        """Keep the system prompt on screen as preset `name` (replacing one of that name); a
        problem in words, or None."""
        name = name.strip()
        if not name:
            return "a preset needs a name"
        text = self.system_prompt.toPlainText()
        self._presets = [(n, t) for n, t in self._presets if n != name] + [(name, text)]
        self._fill_presets(select=name)
        return None

    def _ask_preset_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Name for this system prompt:")
        if ok:
            self.save_preset(name)

    def _delete_preset(self) -> None:
        name = self.preset_combo.currentData()
        if name is not None:
            self._presets = [(n, t) for n, t in self._presets if n != name]
            self._fill_presets()

    # -- model choice ----------------------------------------------------------------------

    def _select_model(self, spec: str) -> None:
        index = self.model_combo.findData(spec)
        if index < 0:
            self.model_combo.addItem(describe(spec).label, spec)
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)

    def _choose_file(self) -> None:
        if path := ask_model_file(self, self._registry.browse_dir(self._settings.app)):
            self._select_model(path)

    def _choose_folder(self) -> None:
        if path := ask_model_folder(self, self._registry.browse_dir(self._settings.app)):
            self._select_model(path)


def _value(settings: Settings, name: str):
    source = settings.sampling if hasattr(settings.sampling, name) else settings.app
    return getattr(source, name)
