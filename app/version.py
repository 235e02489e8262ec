"""Glassbox's version: the one place it is written (pyproject.toml reads it from here).

`glassbox --version` prints it; Help → About shows it beside the versions of what runs the model.
"""

VERSION = "0.1.0"
