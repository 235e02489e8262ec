"""The application around the stateless model: settings, worker thread, controller, model registry.

Qt-free logic plus QtCore signals; never widgets (import-linter enforces it).
"""
