"""Widgets only: the main window, transcript, probability panel and preferences dialog."""
