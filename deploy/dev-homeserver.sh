#!/usr/bin/env bash
# A local Matrix homeserver (Synapse) for development, the one-command trial
# and the integration tests. Needs only Python >= 3.10 and PyPI.
#
#   deploy/dev-homeserver.sh start  [DIR]   install, configure, start, provision
#   deploy/dev-homeserver.sh stop   [DIR]   stop the server
#   deploy/dev-homeserver.sh status [DIR]   is it running? (exit 0 yes, 3 no)
#
# DIR defaults to .dev/homeserver in the repository. Everything lives there:
# the virtualenv, homeserver.yaml, the SQLite database, media, logs
# (homeserver.log, synapse.out) and accounts.env, which `start` writes:
#
#   HOMESERVER_URL, HOMESERVER_NAME,
#   BOT_USER_ID/BOT_PASSWORD (the bot, @safeguarding, a server admin),
#   LEAD_*, DEPUTY_*, STAFF_*, OUTSIDER_* (same two variables each),
#   STAFF_ROOM_ID (encrypted, private, created by staff; lead and deputy
#   joined, the bot invited), REGISTRATION_SHARED_SECRET.
#
# Use it with:  set -a; . .dev/homeserver/accounts.env; set +a
#
# Environment: SAFEGUARDING_DEV_PORT (default 8008; the server listens on
# 127.0.0.1 only), SAFEGUARDING_DEV_PYTHON (default python3),
# SAFEGUARDING_DEV_SYNAPSE_VERSION (default the pinned version below).
#
# `start` is idempotent: a re-run reuses the virtualenv, the running server,
# the accounts (passwords are kept) and the staff room.
set -euo pipefail

SYNAPSE_VERSION="${SAFEGUARDING_DEV_SYNAPSE_VERSION:-1.163.2}"
PORT="${SAFEGUARDING_DEV_PORT:-8008}"
PYTHON="${SAFEGUARDING_DEV_PYTHON:-python3}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
HELPER="$SCRIPT_DIR/dev-homeserver/devhs.py"

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

say() { printf 'dev-homeserver: %s\n' "$*"; }
die() {
    printf 'dev-homeserver: error: %s\n' "$*" >&2
    exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || usage
CMD="$1"
DIR="${2:-$REPO_ROOT/.dev/homeserver}"
case "$DIR" in
/*) ;;
*) DIR="$PWD/$DIR" ;;
esac
if ! [[ "$PORT" =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
    die "SAFEGUARDING_DEV_PORT must be a port number (1-65535), not '$PORT'"
fi
PORT=$((10#$PORT))

VENV="$DIR/venv"
PID_FILE="$DIR/homeserver.pid"
CONFIG="$DIR/homeserver.yaml"

# The helper needs only the standard library: any Python 3 will do.
helper() {
    local py="$PYTHON"
    [[ -x "$VENV/bin/python" ]] && py="$VENV/bin/python"
    "$py" "$HELPER" "$@"
}

# Prints the pid if our Synapse (this DIR's config) is running.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *synapse.app.homeserver*"$CONFIG"* ]] || return 1
    echo "$pid"
}

running_port() {
    if [[ -f "$DIR/port" ]]; then tr -dc '0-9' <"$DIR/port"; else echo "$PORT"; fi
}

venv_ok() {
    [[ -x "$VENV/bin/python" ]] &&
        "$VENV/bin/python" - "$SYNAPSE_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if version("matrix-synapse") == sys.argv[1] else 1)
EOF
}

ensure_venv() {
    if venv_ok; then
        say "Synapse $SYNAPSE_VERSION already installed in $VENV"
        return
    fi
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set SAFEGUARDING_DEV_PYTHON)"
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
        die "Synapse $SYNAPSE_VERSION needs Python >= 3.10; $PYTHON is $("$PYTHON" -V 2>&1)"
    if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        say "removing a broken virtualenv at $VENV"
        rm -rf "$VENV"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "creating a virtualenv at $VENV"
        "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv (on Debian: apt-get install python3-venv)"
    fi
    say "installing matrix-synapse==$SYNAPSE_VERSION from PyPI (log: $DIR/pip-install.log)"
    if ! "$VENV/bin/python" -m pip install --prefer-binary --disable-pip-version-check \
        --no-input "matrix-synapse==$SYNAPSE_VERSION" >"$DIR/pip-install.log" 2>&1; then
        tail -n 30 "$DIR/pip-install.log" >&2
        die "pip install failed; see $DIR/pip-install.log"
    fi
    venv_ok || die "matrix-synapse $SYNAPSE_VERSION is not importable after install; see $DIR/pip-install.log"
}

cmd_start() {
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    # One start at a time per DIR (the tests, the benches and the trial may all call start).
    if command -v flock >/dev/null; then
        exec 9>"$DIR/.lock"
        flock 9
    fi

    local pid
    if ! running_pid >/dev/null; then
        helper port-free "$PORT" ||
            die "something else is listening on 127.0.0.1:$PORT; choose another port with SAFEGUARDING_DEV_PORT"
    fi

    ensure_venv

    if pid="$(running_pid)"; then
        local rport
        rport="$(running_port)"
        [[ "$rport" == "$PORT" ]] ||
            die "already running (pid $pid) on port $rport, not $PORT; run: $0 stop $DIR"
        if helper health "$PORT"; then
            say "already running (pid $pid) on http://127.0.0.1:$PORT"
        else
            say "running (pid $pid) but not answering yet; waiting"
            helper wait "$DIR" "$PORT" 60 || exit 1
        fi
    else
        rm -f "$PID_FILE"
        helper config "$DIR" "$PORT"
        if [[ ! -s "$DIR/localhost.signing.key" ]]; then
            "$VENV/bin/python" -m synapse.app.homeserver --config-path "$CONFIG" \
                --generate-keys >"$DIR/synapse.out" 2>&1 ||
                { cat "$DIR/synapse.out" >&2; die "could not generate the signing key"; }
        fi
        say "starting Synapse on http://127.0.0.1:$PORT (log: $DIR/homeserver.log)"
        helper launch "$DIR" "$PORT" "$VENV/bin/python" || exit 1
        say "started (pid $(cat "$PID_FILE"))"
    fi

    helper provision "$DIR" "$PORT" || die "provisioning failed; the server log is $DIR/homeserver.log"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE"
        say "not running ($DIR)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within 20 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$PID_FILE"
    say "stopped (pid $pid)"
}

cmd_status() {
    local pid port
    if pid="$(running_pid)"; then
        port="$(running_port)"
        if helper health "$port"; then
            say "running (pid $pid) on http://127.0.0.1:$port ($DIR)"
            return 0
        fi
        say "running (pid $pid) but not answering on http://127.0.0.1:$port; see $DIR/homeserver.log"
        return 1
    fi
    say "not running ($DIR)"
    return 3
}

case "$CMD" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) usage ;;
esac
