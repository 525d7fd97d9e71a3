# Make Ralph the xAPI router of event-routing-backends: the LMS (and the CMS, which shares its
# database) then sends every xAPI statement there. The LRS address and the Ralph LMS user's
# credentials come from the LMS settings (ASPECTS_XAPI_LRS), so that no password appears in this
# script, which Tutor prints. A router configuration keeps its history: a new entry is added only
# when something changed, so running this again changes nothing.
echo "Configuring event-routing-backends to send xAPI statements to Ralph"
./manage.py lms shell --command "$(cat <<'PYTHON'
import sys

from django.conf import settings

try:
    from event_routing_backends.models import RouterConfiguration
except ImportError:
    sys.exit(
        "event-routing-backends is not installed in the Open edX image: "
        "build it again with `tutor images build openedx`"
    )
lrs = getattr(settings, "ASPECTS_XAPI_LRS", None)
if not lrs:
    sys.exit("ASPECTS_XAPI_LRS is missing from the LMS settings: run `tutor config save`")

url = lrs["route_url"]
wanted = {
    "backend_name": RouterConfiguration.XAPI_BACKEND,
    "enabled": True,
    "auth_scheme": RouterConfiguration.AUTH_BASIC,
    "auth_key": None,
    "username": lrs["username"],
    "password": lrs["password"],
}
current = RouterConfiguration.objects.filter(route_url=url).order_by("-change_date", "-id").first()
if current is not None and all(getattr(current, key) == value for key, value in wanted.items()):
    print(f"    The xAPI router to {url} is up to date")
else:
    # Event filters set by an operator (configurations) are kept.
    kept = {"configurations": current.configurations} if current is not None else {}
    RouterConfiguration(route_url=url, **wanted, **kept).save()
    done = "Updated" if current is not None else "Created"
    print(f"    {done} the xAPI router to {url}, as the Ralph user {lrs['username']}")
others = RouterConfiguration.objects.current_set().filter(enabled=True).exclude(route_url=url)
for other in others:
    print(f"    Also enabled: the {other.backend_name} router to {other.route_url}")
PYTHON
)"
