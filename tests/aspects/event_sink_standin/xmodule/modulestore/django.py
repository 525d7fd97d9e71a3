"""
Stand-in for edx-platform's modulestore: the published course trees come from the JSON file
named by $STANDIN_MODULESTORE, {course key: [block, ...]} where a block is
{"type", "id", "display_name", "graded", "edited_on", "children": [block id, ...]} and the
first block is the course. Blocks carry the attributes the sink reads from real XBlocks.
"""

import datetime
import json
import os

from xblock.fields import ScopeIds


class StandInBlock:
    def __init__(self, store, course_key, block):
        self._store = store
        self._children = block.get("children", [])
        self.location = course_key.make_usage_key(block["type"], block["id"])
        self.scope_ids = ScopeIds(None, block["type"], self.location, self.location)
        self.display_name_with_default = block["display_name"]
        self.graded = block.get("graded", False)
        self.completion_mode = block.get("completion_mode", "completable")
        self.edited_on = block.get("edited_on", "")
        for name in ("start_time", "end_time"):
            if name in block:
                setattr(self, name, datetime.timedelta(seconds=block[name]))

    def get_children(self):
        return [self._store.block(self.location.course_key, child) for child in self._children]


class StandInModuleStore:
    def __init__(self, courses):
        self._courses = courses

    def _blocks(self, course_key):
        return self._courses[str(course_key)]

    def block(self, course_key, block_id):
        [block] = [b for b in self._blocks(course_key) if b["id"] == block_id]
        return StandInBlock(self, course_key, block)

    def get_course(self, course_key, revision=None):
        assert revision == "rev-opt-published-only", revision
        return StandInBlock(self, course_key, self._blocks(course_key)[0])

    def get_items(self, course_key, revision=None):
        assert revision == "rev-opt-published-only", revision
        return [StandInBlock(self, course_key, b) for b in self._blocks(course_key)]


def modulestore():
    with open(os.environ["STANDIN_MODULESTORE"], encoding="utf-8") as courses:
        return StandInModuleStore(json.load(courses))
