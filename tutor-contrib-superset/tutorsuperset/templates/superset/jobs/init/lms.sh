# Register Superset as an OAuth2 application of the LMS, for single sign-on (like Tutor's own
# CMS application). --update makes it safe to repeat.
./manage.py lms manage_user superset superset@openedx --unusable-password
./manage.py lms create_dot_application \
  --grant-type authorization-code \
  --redirect-uris "{% if ENABLE_HTTPS %}https{% else %}http{% endif %}://{{ SUPERSET_HOST }}/oauth-authorized/openedxsso" \
  --client-id {{ SUPERSET_OAUTH2_CLIENT_ID }} \
  --client-secret {{ SUPERSET_OAUTH2_CLIENT_SECRET }} \
  --scopes user_id \
  --skip-authorization \
  --update superset-sso superset
