#!/usr/bin/env python3
"""Helper for deploy/dev-homeserver.sh (standard library only).

Subcommands (all take the homeserver directory DIR first):

  secrets DIR                    create DIR/secrets.json once (mode 0600)
  config DIR PORT                (re)write DIR/homeserver.yaml and DIR/log.config.yaml
  port-free PORT                 exit 0 if nothing listens on 127.0.0.1:PORT
  launch DIR PORT PYTHON         start Synapse in its own session, write the pid file,
                                 wait until it answers (or fail, pointing at the logs)
  wait DIR PORT [SECONDS]        wait until the client API answers
  health PORT                    exit 0 if the client API answers now
  provision DIR PORT             register accounts, lift rate limits, create the
                                 staff room, write DIR/accounts.env, print a summary

Nothing secret is written outside DIR; the summary on stdout does show the
development passwords, which is the point of it.
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SERVER_NAME = "localhost"
HOST = "127.0.0.1"

# (env prefix, localpart, admin, display name)
ACCOUNTS = [
    ("BOT", "safeguarding", True, "Safeguarding"),
    ("LEAD", "lead", False, "Designated Safeguarding Lead"),
    ("DEPUTY", "deputy", False, "Deputy Safeguarding Lead"),
    ("STAFF", "staff", False, "Staff member"),
    ("OUTSIDER", "outsider", False, "Outsider"),
]

ROOM_NAME = "Staff"
MEGOLM = "m.megolm.v1.aes-sha2"

# Rate limits, lifted for development and tests. Every limiter Synapse
# reads from the config (synapse/config/ratelimiting.py) is listed.
LIFTED = {"per_second": 100000, "burst_count": 1000000}
RATE_LIMITS = {
    "rc_message": LIFTED,
    "rc_registration": LIFTED,
    "rc_registration_token_validity": LIFTED,
    "rc_login": {
        "address": LIFTED,
        "account": LIFTED,
        "failed_attempts": LIFTED,
    },
    "rc_admin_redaction": LIFTED,
    "rc_joins": {"local": LIFTED, "remote": LIFTED},
    "rc_joins_per_room": LIFTED,
    "rc_3pid_validation": LIFTED,
    "rc_invites": {
        "per_room": LIFTED,
        "per_user": LIFTED,
        "per_issuer": LIFTED,
    },
    "rc_third_party_invite": LIFTED,
    "rc_media_create": LIFTED,
    "rc_presence": {"per_user": LIFTED},
    "rc_delayed_event_mgmt": LIFTED,
    "rc_room_creation": LIFTED,
    "rc_reports": LIFTED,
    "rc_user_directory": LIFTED,
    "rc_profile": LIFTED,
    "rc_key_requests": LIFTED,
}


class Fail(Exception):
    pass


# ---------------------------------------------------------------- files


def write_private(path, text):
    """Write a file atomically with mode 0600."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_secrets(d):
    path = os.path.join(d, "secrets.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    s = {
        "registration_shared_secret": secrets.token_urlsafe(32),
        "macaroon_secret_key": secrets.token_urlsafe(32),
        "form_secret": secrets.token_urlsafe(32),
    }
    write_private(path, json.dumps(s, indent=2) + "\n")
    return s


def read_env(path):
    """Parse a KEY=value file (the accounts.env this script writes)."""
    values = {}
    if not os.path.exists(path):
        return values
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[len("export ") :]
            key, sep, value = line.partition("=")
            if not sep:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


SAFE_VALUE = re.compile(r"^[A-Za-z0-9@:!._/+=-]*$")


def env_line(key, value):
    value = str(value)
    if SAFE_VALUE.match(value):
        return f"{key}={value}\n"
    return key + "='" + value.replace("'", "'\\''") + "'\n"


# ---------------------------------------------------------------- YAML


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML scalar


def yaml_dump(obj, indent=0):
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:\n{yaml_dump(v, indent + 1)}")
            elif isinstance(v, dict):
                out.append(f"{pad}{k}: {{}}\n")
            elif isinstance(v, list):
                out.append(f"{pad}{k}: []\n")
            else:
                out.append(f"{pad}{k}: {yaml_scalar(v)}\n")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict) and v:
                inner = yaml_dump(v, indent + 1)
                out.append(f"{pad}- {inner.lstrip()}")
            elif isinstance(v, list) and v:
                out.append(f"{pad}-\n{yaml_dump(v, indent + 1)}")
            else:
                out.append(f"{pad}- {yaml_scalar(v)}\n")
    return "".join(out)


def cmd_config(d, port):
    d = os.path.abspath(d)
    s = load_secrets(d)
    log_config = os.path.join(d, "log.config.yaml")
    config = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://{HOST}:{port}/",
        "pid_file": os.path.join(d, "homeserver.pid"),
        "listeners": [
            {
                "port": int(port),
                "bind_addresses": [HOST],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {
            "name": "sqlite3",
            "args": {"database": os.path.join(d, "homeserver.db")},
        },
        "log_config": log_config,
        "media_store_path": os.path.join(d, "media_store"),
        "signing_key_path": os.path.join(d, f"{SERVER_NAME}.signing.key"),
        "enable_registration": False,
        "registration_shared_secret": s["registration_shared_secret"],
        "macaroon_secret_key": s["macaroon_secret_key"],
        "form_secret": s["form_secret"],
        "report_stats": False,
        "enable_metrics": False,
        "url_preview_enabled": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        # No federation: no federation listener and no remote servers allowed.
        "federation_domain_whitelist": [],
        **RATE_LIMITS,
    }
    header = (
        "# Development homeserver written by deploy/dev-homeserver.sh.\n"
        "# Rewritten on every start while the server is stopped: edit the\n"
        "# helper (deploy/dev-homeserver/devhs.py), not this file.\n"
    )
    write_private(os.path.join(d, "homeserver.yaml"), header + yaml_dump(config))

    log = {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s"
                " - %(request)s - %(message)s"
            }
        },
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": os.path.join(d, "homeserver.log"),
                "encoding": "utf8",
            }
        },
        "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }
    write_private(log_config, yaml_dump(log))
    with open(os.path.join(d, "port"), "w", encoding="utf-8") as f:
        f.write(f"{port}\n")


# ---------------------------------------------------------------- HTTP


def base_url(port):
    return f"http://{HOST}:{port}"


def http(port, method, path, body=None, token=None, timeout=30):
    """Return (status, json-or-None). Retries politely on 429."""
    url = base_url(port) + path
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    for _ in range(20):
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = {"raw": raw.decode("utf-8", "replace")}
        if status == 429:
            wait_ms = (parsed or {}).get("retry_after_ms", 500)
            time.sleep(min(wait_ms, 5000) / 1000.0)
            continue
        return status, parsed
    return status, parsed


def expect(result, what, ok=(200,)):
    status, body = result
    if status not in ok:
        raise Fail(f"{what} failed: HTTP {status} {json.dumps(body)}")
    return body


def healthy(port):
    try:
        status, body = http(port, "GET", "/_matrix/client/versions", timeout=2)
    except (OSError, urllib.error.URLError):
        return False
    return status == 200 and isinstance(body, dict) and "versions" in body


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        return s.connect_ex((HOST, int(port))) != 0
    finally:
        s.close()


def tail(path, n=25):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return ""
    return "".join(lines[-n:])


def log_hint(d):
    log = os.path.join(d, "homeserver.log")
    out = os.path.join(d, "synapse.out")
    parts = [f"See {log} and {out}."]
    for p in (out, log):
        t = tail(p)
        if t.strip():
            parts.append(f"--- last lines of {p} ---\n{t.rstrip()}")
    return "\n".join(parts)


def cmd_wait(d, port, seconds=60.0, proc=None):
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        if healthy(port):
            return
        if proc is not None and proc.poll() is not None:
            raise Fail(
                f"Synapse exited (code {proc.returncode}) before answering on "
                f"{base_url(port)}.\n" + log_hint(d)
            )
        time.sleep(0.25)
    raise Fail(
        f"Synapse did not answer on {base_url(port)}/_matrix/client/versions "
        f"within {int(float(seconds))} s.\n" + log_hint(d)
    )


def cmd_launch(d, port, python):
    d = os.path.abspath(d)
    config = os.path.join(d, "homeserver.yaml")
    pid_file = os.path.join(d, "homeserver.pid")
    out = open(os.path.join(d, "synapse.out"), "ab")
    proc = subprocess.Popen(
        [python, "-m", "synapse.app.homeserver", "--config-path", config],
        cwd=d,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # survives the terminal that started it
        close_fds=True,
    )
    out.close()
    with open(pid_file, "w", encoding="utf-8") as f:
        f.write(f"{proc.pid}\n")
    try:
        cmd_wait(d, port, 60, proc)
    except Fail:
        # Leave nothing half-started behind.
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        try:
            os.unlink(pid_file)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------- provisioning


def mxid(localpart):
    return f"@{localpart}:{SERVER_NAME}"


def q(s):
    return urllib.parse.quote(s, safe="")


def login(port, localpart, password):
    status, body = http(
        port,
        "POST",
        "/_matrix/client/v3/login",
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
            "initial_device_display_name": "dev-homeserver.sh",
        },
    )
    if status == 200:
        return body["access_token"]
    if status == 403:
        return None
    raise Fail(f"login as {localpart} failed: HTTP {status} {json.dumps(body)}")


def logout(port, token):
    try:
        http(port, "POST", "/_matrix/client/v3/logout", {}, token=token)
    except OSError:
        pass


def shared_secret_register(port, secret, localpart, password, admin, displayname):
    """Register via the admin API with the shared-secret HMAC.

    Returns the new account's access token, or None if the user exists."""
    nonce = expect(http(port, "GET", "/_synapse/admin/v1/register"), "getting nonce")["nonce"]
    mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha1)
    for part in (nonce, localpart, password):
        mac.update(part.encode("utf-8"))
        mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    status, body = http(
        port,
        "POST",
        "/_synapse/admin/v1/register",
        {
            "nonce": nonce,
            "username": localpart,
            "displayname": displayname,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        },
    )
    if status == 200:
        return body["access_token"]
    if status == 400 and (body or {}).get("errcode") == "M_USER_IN_USE":
        return None
    raise Fail(f"registering {localpart} failed: HTTP {status} {json.dumps(body)}")


def ensure_encrypted_room(port, room_id, tokens, *, creator, name, topic, invite, joiners, what, on_created):
    """The room `room_id` if it exists and is end-to-end encrypted, else a
    new private encrypted room made by `creator` with `invite` invited and
    `joiners` joined. `on_created(room_id)` runs as soon as a new room
    exists, so its id is saved before anything else can fail. Returns the
    room id and whether it is new."""
    if room_id:
        status, body = http(
            port,
            "GET",
            f"/_matrix/client/v3/rooms/{q(room_id)}/state/m.room.encryption",
            token=tokens[creator],
        )
        if status == 200 and (body or {}).get("algorithm") == MEGOLM:
            return room_id, False
    body = expect(
        http(
            port,
            "POST",
            "/_matrix/client/v3/createRoom",
            {
                "preset": "private_chat",
                "visibility": "private",
                "name": name,
                "topic": topic,
                "invite": invite,
                "initial_state": [
                    {
                        "type": "m.room.encryption",
                        "state_key": "",
                        "content": {"algorithm": MEGOLM},
                    }
                ],
            },
            token=tokens[creator],
        ),
        f"creating {what}",
    )
    room_id = body["room_id"]
    on_created(room_id)
    for prefix in joiners:
        expect(
            http(
                port,
                "POST",
                f"/_matrix/client/v3/rooms/{q(room_id)}/join",
                {},
                token=tokens[prefix],
            ),
            f"{prefix.lower()} joining {what}",
        )
    return room_id, True



def cmd_provision(d, port):
    d = os.path.abspath(d)
    env_path = os.path.join(d, "accounts.env")
    old = read_env(env_path)
    secret = load_secrets(d)["registration_shared_secret"]
    url = base_url(port)
    tokens = {}
    created = []
    # Passwords are chosen, and saved, before any account is registered with
    # them: a run that fails half-way never loses a password.
    passwords = {
        prefix: old.get(f"{prefix}_PASSWORD") or secrets.token_urlsafe(18)
        for prefix, _, _, _ in ACCOUNTS
    }

    # The rooms' ids, saved with the accounts as soon as each exists.
    rooms = {key: old.get(key, "") for key in ("STAFF_ROOM_ID", "LEADS_ROOM_ID")}

    def save():
        lines = [
            "# Development homeserver accounts, written by deploy/dev-homeserver.sh.\n",
            "# Development only: never reuse these passwords.\n",
            env_line("HOMESERVER_URL", url),
            env_line("HOMESERVER_NAME", SERVER_NAME),
        ]
        for prefix, localpart, _, _ in ACCOUNTS:
            lines.append(env_line(f"{prefix}_USER_ID", mxid(localpart)))
            lines.append(env_line(f"{prefix}_PASSWORD", passwords[prefix]))
        for key, room in rooms.items():
            lines.append(env_line(key, room))
        lines.append(env_line("REGISTRATION_SHARED_SECRET", secret))
        write_private(env_path, "".join(lines))

    def remember(key):
        def set_and_save(room):
            rooms[key] = room
            save()

        return set_and_save

    save()
    try:
        # The bot first: it is the admin everything else goes through.
        for prefix, localpart, admin, display in ACCOUNTS:
            pw = passwords[prefix]
            token = login(port, localpart, pw)
            if token is None:
                # Registering logs the new account in (one device): use that
                # session, and log it out at the end like the others.
                token = shared_secret_register(port, secret, localpart, pw, admin, display)
                if token is not None:
                    created.append(localpart)
                elif admin:
                    raise Fail(
                        f"{mxid(localpart)} exists but the password in {env_path} "
                        "does not work (was accounts.env deleted?). For a fresh "
                        f"development server: deploy/dev-homeserver.sh stop {d} "
                        f"&& rm -rf {d}"
                    )
                else:
                    # Exists, password unknown: reset it through the admin API.
                    expect(
                        http(
                            port,
                            "PUT",
                            f"/_synapse/admin/v2/users/{q(mxid(localpart))}",
                            {"password": pw, "logout_devices": False, "deactivated": False},
                            token=tokens["BOT"],
                        ),
                        f"resetting the password of {localpart}",
                    )
                    token = login(port, localpart, pw)
                    if token is None:
                        raise Fail(f"cannot log in as {localpart} after resetting its password")
            tokens[prefix] = token
            if admin:
                status, body = http(
                    port,
                    "GET",
                    f"/_synapse/admin/v2/users/{q(mxid(localpart))}",
                    token=token,
                )
                if status != 200 or not body.get("admin"):
                    raise Fail(f"{mxid(localpart)} is not a server admin (HTTP {status})")

        # Lift the per-user message rate limits (the bot is the admin).
        for prefix, localpart, _, _ in ACCOUNTS:
            expect(
                http(
                    port,
                    "POST",
                    f"/_synapse/admin/v1/users/{q(mxid(localpart))}/override_ratelimit",
                    {"messages_per_second": 0, "burst_count": 0},
                    token=tokens["BOT"],
                ),
                f"lifting the rate limit of {localpart}",
            )

        # The end-to-end encrypted staff room. The lead and the deputy are
        # staff: they accept. The bot's invitation is left for the bot to
        # accept itself.
        rooms["STAFF_ROOM_ID"], room_new = ensure_encrypted_room(
            port,
            rooms["STAFF_ROOM_ID"],
            tokens,
            creator="STAFF",
            name=ROOM_NAME,
            topic="Staff room (development homeserver)",
            invite=[mxid("safeguarding"), mxid("deputy"), mxid("lead")],
            joiners=("LEAD", "DEPUTY"),
            what="the staff room",
            on_created=remember("STAFF_ROOM_ID"),
        )

        # The leads' room: the lead and the deputy, encrypted, for !list
        # and !stats. The bot accepts the lead's invitation itself.
        rooms["LEADS_ROOM_ID"], leads_new = ensure_encrypted_room(
            port,
            rooms["LEADS_ROOM_ID"],
            tokens,
            creator="LEAD",
            name="Safeguarding leads",
            topic="The Lead and Deputies (development homeserver)",
            invite=[mxid("safeguarding"), mxid("deputy")],
            joiners=("DEPUTY",),
            what="the leads' room",
            on_created=remember("LEADS_ROOM_ID"),
        )
    finally:
        for token in tokens.values():
            logout(port, token)

    save()

    print(f"Homeserver: {url}  (server name {SERVER_NAME})")
    width = max(len(mxid(a[1])) for a in ACCOUNTS)
    for prefix, localpart, admin, _ in ACCOUNTS:
        note = []
        if admin:
            note.append("bot, admin")
        if localpart in created:
            note.append("new")
        extra = f"  ({', '.join(note)})" if note else ""
        print(f"  {mxid(localpart):<{width}}  password {passwords[prefix]}{extra}")
    state = "created" if room_new else "exists"
    print(f"Staff room (encrypted, {state}): {rooms['STAFF_ROOM_ID']}")
    state = "created" if leads_new else "exists"
    print(f"Leads' room (encrypted, {state}): {rooms['LEADS_ROOM_ID']}")
    print(f"Accounts file: {env_path}   (set -a; . {env_path}; set +a)")


# ---------------------------------------------------------------- main


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "secrets":
            load_secrets(args[0])
        elif cmd == "config":
            cmd_config(args[0], args[1])
        elif cmd == "port-free":
            return 0 if port_free(args[0]) else 1
        elif cmd == "launch":
            cmd_launch(args[0], args[1], args[2])
        elif cmd == "wait":
            cmd_wait(args[0], args[1], args[2] if len(args) > 2 else 60)
        elif cmd == "health":
            return 0 if healthy(args[0]) else 1
        elif cmd == "provision":
            cmd_provision(args[0], args[1])
        else:
            print(f"unknown subcommand {cmd}", file=sys.stderr)
            return 2
    except Fail as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (OSError, urllib.error.URLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
