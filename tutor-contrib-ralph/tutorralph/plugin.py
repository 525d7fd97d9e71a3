"""Tutor plugin for the Ralph learning record store: not functional yet, it registers nothing."""
