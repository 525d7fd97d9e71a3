from django.apps import AppConfig


class StandInLmsConfig(AppConfig):
    name = "tests.harness.lms"
    label = "lms"
    verbose_name = "Stand-in Open edX LMS"
    default_auto_field = "django.db.models.BigAutoField"
