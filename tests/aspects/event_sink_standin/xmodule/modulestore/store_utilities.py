"""edx-platform's list of the block types that live outside the course outline."""

DETACHED_XBLOCK_TYPES = {"static_tab", "course_info", "about"}
