"""edx-platform's paths (lms/urls.py and the apps it includes), trailing slashes as there."""

from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import AuthorizationView, RevokeTokenView

from tests.harness.lms import views

USERNAME = r"(?P<username>[\w.@+-]+)"

urlpatterns = [
    re_path(r"^$", views.home, name="home"),
    re_path(r"^login/?$", views.login_page, name="login"),
    re_path(r"^logout/?$", views.logout_page, name="logout"),
    re_path(r"^heartbeat/?$", views.heartbeat, name="heartbeat"),
    re_path(r"^oauth2/authorize/?$", AuthorizationView.as_view(), name="authorize"),
    re_path(r"^oauth2/access_token/?$", views.access_token, name="access_token"),
    re_path(
        r"^oauth2/revoke_token/?$", csrf_exempt(RevokeTokenView.as_view()), name="revoke_token"
    ),
    re_path(r"^api/user/v1/me$", views.me, name="own_username_api"),
    re_path(rf"^api/user/v1/accounts/{USERNAME}/?$", views.account, name="accounts_api"),
    re_path(r"^api/courses/v1/courses/$", views.course_list, name="course-list"),
]
