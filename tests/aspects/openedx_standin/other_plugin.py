"""Another plugin's openedx-filters step, for the tests that check it is kept beside Aspects'."""

from openedx_filters import PipelineStep


class AddCertificatesTab(PipelineStep):
    """Adds a tab to the instructor dashboard MFE."""

    def run_filter(self, tabs, user, course_key):  # noqa: ARG002 - the filter's signature
        return {"tabs": [*tabs, {"tab_id": "certificates", "title": "Certificates"}]}
