"""The Preferences dialog: decoding settings, chat, model and display, validated as you type.

Every field shows its own problem right under it, and Save stays disabled until all of them are
fixed, so a setting the sampler would refuse (temperature -1, top-p 7) can never be saved.
"""

from __future__ import annotations

from dataclasses import fields, replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.models import ModelRegistry, describe
from app.settings import KV_CACHE_KINDS, AppSettings, Settings
from engine.sampling import SamplingSettings
from ui.model_picker import ask_model_file, ask_model_folder

# (field, label, kind, hint) — kind: "float", "int" or "seed" (empty means random)
DECODING_FIELDS = [
    ("temperature", "Temperature", "float", "0 = always the most likely token; higher = more varied (0–5)"),
    ("top_k", "Top-k", "int", "keep only the k most likely tokens (0 = off)"),
    ("top_p", "Top-p", "float", "keep the most likely tokens up to this total probability (1 = off)"),
    ("min_p", "Min-p", "float", "drop tokens less likely than this times the best one (0 = off)"),
    ("repetition_penalty", "Repetition penalty", "float", "1 = off; above 1 discourages repeats"),
    ("presence_penalty", "Presence penalty", "float", "−2 to 2; subtracted once per token already used"),
    ("frequency_penalty", "Frequency penalty", "float", "−2 to 2; subtracted per use of a token"),
    ("seed", "Seed", "seed", "empty = a different random draw each time"),
]
APP_NUMBER_FIELDS = [
    ("max_new_tokens", "Max new tokens", "int", "the longest a reply may be"),
    ("context_length", "Context length", "int", "0 = the model's own context window"),
    ("panel_top_k", "Panel top-k", "int", "candidates shown per column in the next-token panel"),
]
CACHE_NUMBER_FIELDS = [
    ("kv_window", "Window", "int", "tokens a rotating cache keeps; attention sees only these"),
    ("prompt_cache_entries", "Cached prompts", "int", "how many earlier prompts' caches are kept in memory"),
    ("prompt_cache_mb", "Cache memory (MB)", "int", "the most memory those caches may hold"),
]
KV_KIND_HINTS = {
    "plain": "keys and values as float32: exact, the most memory",
    "rotating": "float32, but only the last window tokens are kept and attended to",
    "quantized8": "8-bit keys and values: greedy replies matched the plain cache in our checks",
    "quantized4": "4-bit keys and values: the least memory, replies change within a few tokens",
}


def kv_cost_text(kind: str, info: dict | None) -> str:
    """What one cached token costs with the loaded model, e.g. "12,960 bytes per token (3.6× less…)"."""
    costs = (info or {}).get("kv_bytes_per_token_by_kind") or {}
    if kind not in costs:
        return "Load a model to see what each cached token costs."
    plain, cost = costs.get("plain", 0), costs[kind]
    text = f"{cost:,} bytes per token"
    if kind == "plain":
        shape = f"2 × {info['n_layers']} layers × {info['n_kv_heads']} KV heads × {info['head_dim']} dims × 4 bytes"
        return f"{text} = {shape}" if all(k in info for k in ("n_layers", "n_kv_heads", "head_dim")) else text
    if kind == "rotating":
        return f"{text}, for at most the window's tokens"
    return f"{text}: {plain / cost:.1f}× less than plain" if cost and plain else text


class NumberField(QWidget):
    """A line edit with an inline problem message under it."""

    def __init__(self, kind: str, hint: str, parent=None):
        super().__init__(parent)
        self.kind = kind
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("random" if kind == "seed" else "")
        self.edit.setToolTip(hint)
        self.hint = QLabel(hint)
        self.hint.setObjectName("fieldHint")
        self.error = QLabel()
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.edit)
        layout.addWidget(self.hint)
        layout.addWidget(self.error)

    def set_value(self, value) -> None:
        self.edit.setText("" if value is None else _format_number(value))

    def parse(self):
        """The typed value, or raise ValueError with a message for the user."""
        text = self.edit.text().strip()
        if self.kind == "seed":
            if not text:
                return None
            if not text.isdigit():
                raise ValueError("seed must be empty (random) or a whole number ≥ 0")
            return int(text)
        if not text:
            raise ValueError("enter a number")
        try:
            return int(text) if self.kind == "int" else float(text)
        except ValueError:
            raise ValueError("must be a whole number" if self.kind == "int" else "must be a number") from None

    def show_error(self, message: str | None) -> None:
        self.error.setText(message[:1].upper() + message[1:] if message else "")
        self.error.setVisible(bool(message))
        self.edit.setProperty("invalid", bool(message))
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)


def _format_number(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, registry: ModelRegistry, parent=None, model_info: dict | None = None):
        super().__init__(parent)
        self._model_info = model_info  # the loaded model's, for what each KV cache kind costs
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(560)
        self._settings = settings
        self._registry = registry
        self.fields: dict[str, NumberField] = {}
        self.tabs = tabs = QTabWidget()
        self._tab_fields: list[tuple[str, list[str]]] = []  # (title, fields on that tab)
        for title, build in (("Decoding", self._decoding_tab), ("Chat", self._chat_tab),
                             ("Model", self._model_tab), ("Cache", self._cache_tab), ("Display", self._display_tab)):
            known = set(self.fields)
            tabs.addTab(build(), title)
            self._tab_fields.append((title, [name for name in self.fields if name not in known]))

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.restore_button = self.buttons.addButton("Restore Defaults", QDialogButtonBox.ButtonRole.ResetRole)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.restore_button.clicked.connect(self.restore_defaults)
        self.summary = QLabel()
        self.summary.setObjectName("fieldError")
        self.summary.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.load(settings)
        for field in self.fields.values():
            field.edit.textChanged.connect(self.validate)

    # -- tabs ------------------------------------------------------------------------------

    def _form(self) -> tuple[QWidget, QFormLayout]:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        return page, form

    def _add_numbers(self, form: QFormLayout, specs) -> None:
        for name, label, kind, hint in specs:
            self.fields[name] = NumberField(kind, hint)
            form.addRow(label, self.fields[name])

    def _decoding_tab(self) -> QWidget:
        page, form = self._form()
        self._add_numbers(form, DECODING_FIELDS)
        self._add_numbers(form, APP_NUMBER_FIELDS[:1])
        return page

    def _chat_tab(self) -> QWidget:
        page, form = self._form()
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("No system prompt")
        form.addRow("System prompt", self.system_prompt)
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
        self._add_numbers(form, CACHE_NUMBER_FIELDS)
        self.disk_cache_check = QCheckBox("Keep prompt caches on disk")
        self.disk_cache_check.setToolTip(
            "Save each conversation's cache after a reply, so reopening it after a restart\n"
            "does not read the whole conversation again."
        )
        form.addRow("", self.disk_cache_check)
        self.kv_kind_combo.currentIndexChanged.connect(self._show_kv_kind)
        return page

    def _show_kv_kind(self) -> None:
        kind = self.kv_kind_combo.currentData()
        self.kv_cost.setText(f"{KV_KIND_HINTS[kind]}. {kv_cost_text(kind, self._model_info)}")
        self.fields["kv_window"].setEnabled(kind == "rotating")
        self.validate()

    def _display_tab(self) -> QWidget:
        page, form = self._form()
        self._add_numbers(form, APP_NUMBER_FIELDS[2:])
        self.tint_check = QCheckBox("Tint reply tokens by probability")
        form.addRow("", self.tint_check)
        return page

    # -- values ----------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        """Fill every widget from `settings`."""
        for name, field in self.fields.items():
            source = settings.sampling if hasattr(settings.sampling, name) else settings.app
            field.set_value(getattr(source, name))
        self.system_prompt.setPlainText(settings.app.system_prompt)
        self.tint_check.setChecked(settings.app.probability_tint)
        self.kv_kind_combo.setCurrentIndex(max(0, self.kv_kind_combo.findData(settings.app.kv_cache)))
        self.disk_cache_check.setChecked(settings.app.prompt_cache_on_disk)
        self._show_kv_kind()
        self.model_combo.clear()
        for entry in self._registry.entries(settings.app):
            self.model_combo.addItem(entry.label, entry.spec)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(settings.app.model)))
        self.validate()

    def restore_defaults(self) -> None:
        """Default values everywhere (the remembered models and window layout stay)."""
        defaults = AppSettings()
        keep = replace(
            defaults,
            recent_models=self._settings.app.recent_models,
            window_geometry=self._settings.app.window_geometry,
            splitter_state=self._settings.app.splitter_state,
        )
        self.load(Settings(SamplingSettings(), keep))

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
        )
        return Settings(sampling, app)

    def validate(self) -> bool:
        """Show each field's problem in place; enable Save only when there is none."""
        values, problems = self._parse()
        parsed_ok = {k: v for k, v in values.items() if k not in problems}
        built = self._build({**self._known_good(), **parsed_ok})
        problems = {**built.validate(), **problems}
        for name, field in self.fields.items():
            field.show_error(problems.get(name))
        count = sum(1 for name in problems if name in self.fields)
        for index, (title, names) in enumerate(self._tab_fields):
            # a problem on a tab that is not showing still has to be findable
            self.tabs.setTabText(index, title + (" ⚠" if any(n in problems for n in names) else ""))
        self.save_button.setEnabled(count == 0)
        self.summary.setText(f"Fix {count} setting{'s' if count != 1 else ''} to save." if count else "")
        return count == 0

    def _known_good(self) -> dict:
        values = {}
        for name in self.fields:
            source = self._settings.sampling if hasattr(self._settings.sampling, name) else self._settings.app
            values[name] = getattr(source, name)
        return values

    def accept(self) -> None:
        if self.validate():
            super().accept()

    # -- model choice ----------------------------------------------------------------------

    def _select_model(self, spec: str) -> None:
        index = self.model_combo.findData(spec)
        if index < 0:
            self.model_combo.addItem(describe(spec).label, spec)
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)

    def _choose_file(self) -> None:
        if path := ask_model_file(self):
            self._select_model(path)

    def _choose_folder(self) -> None:
        if path := ask_model_folder(self):
            self._select_model(path)
