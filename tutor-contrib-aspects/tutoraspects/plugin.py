"""Tutor plugin for Open edX Aspects analytics: not functional yet, it registers nothing."""
