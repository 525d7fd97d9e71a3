"""
edx-platform's CourseOverview, reduced to the fields platform-plugin-aspects' serializer reads,
with the same Django field types (they decide how the serializer renders each value).
"""

from django.db import models
from model_utils.models import TimeStampedModel
from opaque_keys.edx.django.models import CourseKeyField


class CourseOverview(TimeStampedModel):
    id = CourseKeyField(db_index=True, primary_key=True, max_length=255)
    org = models.TextField(max_length=255, default="outdated_entry")
    display_name = models.TextField(null=True)
    start = models.DateTimeField(null=True)
    end = models.DateTimeField(null=True)
    enrollment_start = models.DateTimeField(null=True)
    enrollment_end = models.DateTimeField(null=True)
    self_paced = models.BooleanField(default=False)
    advertised_start = models.TextField(null=True)
    announcement = models.DateTimeField(null=True)
    lowest_passing_grade = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    invitation_only = models.BooleanField(default=False)
    max_student_enrollments_allowed = models.IntegerField(null=True)
    effort = models.TextField(null=True)
    enable_proctored_exams = models.BooleanField(default=False)
    entrance_exam_enabled = models.BooleanField(default=False)
    external_id = models.CharField(max_length=128, null=True, blank=True)
    language = models.TextField(null=True)

    class Meta:
        app_label = "course_overviews"

    def __str__(self):
        # As edx-platform's: the sink looks a course up in ClickHouse by str() of it.
        return str(self.id)
