"""Stand-in for edx-platform's course_overviews app (see ../../../../../run_sink.py)."""
