"""Tutor plugin for Apache Superset with LMS single sign-on: not functional yet."""
