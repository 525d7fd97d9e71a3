"""The stand-in LMS's URLs: platform-plugin-aspects' own, where edx-platform mounts them."""

from django.urls import include, re_path

urlpatterns = [re_path(r"^aspects/", include("platform_plugin_aspects.urls"))]
