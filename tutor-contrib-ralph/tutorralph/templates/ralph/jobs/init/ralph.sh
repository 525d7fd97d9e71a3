# Initialise Ralph: wait until it answers its heartbeat (which also checks its backend), then
# check that its own users (admin, LMS) log in with the passwords from the configuration.
# Changes nothing, so it is safe to repeat. Needs only sh and python3 (both in the Ralph image).
echo "Checking Ralph at {{ "https" if RALPH_RUN_HTTPS else "http" }}://{{ RALPH_HOST }}:{{ RALPH_PORT }}"
python3 - <<'RALPH_CHECK_END'
import base64, json, os, sys, time, urllib.error, urllib.request

url = {{ (("https" if RALPH_RUN_HTTPS else "http") ~ "://" ~ RALPH_HOST ~ ":" ~ RALPH_PORT|string)|tojson }}
# (username, prefix of its settings) of each of the plugin's own users.
users = {{ ralph_own_users()|tojson }}
attempts = 20

for attempt in range(1, attempts + 1):
    try:
        with urllib.request.urlopen(url + "/__heartbeat__", timeout=5) as reply:
            print("Ralph answers, its backend too:", reply.read().decode())
            break
    except urllib.error.HTTPError as error:
        reason = f"its backend is not ready ({error.code} {error.read().decode()[:200]})"
    except OSError as error:
        reason = str(error)
    if attempt == attempts:
        sys.exit(f"Ralph did not become ready at {url}: {reason}. Check RALPH_HOST and RALPH_PORT.")
    print(f"    [{attempt}/{attempts}] Waiting for Ralph: {reason}", flush=True)
    time.sleep(3)

for username, key in users:
    password = os.environ.get(f"{key}_PASSWORD")
    if not password:
        sys.exit(f"{key}_PASSWORD is not set in the ralph-job environment.")
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(url + "/whoami", headers={"Authorization": "Basic " + token})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            scopes = json.load(reply)["scopes"]
    except urllib.error.HTTPError as error:
        if error.code != 401:
            raise
        sys.exit(
            f"Ralph refused the password of user {username!r}: its auth file does not match "
            f"{key}_PASSWORD. Run `tutor config save --unset {key}_HASHED_PASSWORD`, then "
            "restart ralph so that it reads the new auth file."
        )
    print(f"User {username!r} logs in, with scopes: {', '.join(sorted(scopes))}")
RALPH_CHECK_END
echo "Ralph is initialised."
