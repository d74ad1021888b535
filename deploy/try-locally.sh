#!/usr/bin/env bash
# Try the bot on your own machine, with one command:
#
#   deploy/try-locally.sh
#
# It starts a local Matrix homeserver (Synapse, from PyPI, on 127.0.0.1:8008,
# in .dev/homeserver), with accounts for the bot, a lead, a deputy and a
# member of staff and an encrypted staff room; writes a config for the bot
# (.dev/bot.toml); prints the accounts to log in with any Matrix client
# (such as Element, with the homeserver set to http://127.0.0.1:8008); then
# runs the bot until you press Ctrl-C. In the staff room, as the staff
# account, type /report (in Element: "Send as message", or //report).
#
# To stop the homeserver afterwards:  deploy/dev-homeserver.sh stop
#
#   deploy/try-locally.sh --demo [--exit]
#
# --demo starts the bot in the background instead (its log in .dev/bot.log),
# plays a short scripted report (cargo run --example demo: the member of
# staff reports, the lead reacts ✅) printing the conversation, then leaves
# the homeserver and the bot running and prints the accounts. With --exit as
# well, it stops the bot and the homeserver afterwards and exits with the
# demo's status (0: the report was acknowledged and closed), as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=0
EXIT_AFTER=0
for arg in "$@"; do
    case "$arg" in
    --demo) DEMO=1 ;;
    --exit) EXIT_AFTER=1 ;;
    -h | --help)
        sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        printf 'try-locally: unknown option %s (use --demo, --demo --exit or nothing)\n' "$arg" >&2
        exit 2
        ;;
    esac
done
if ((EXIT_AFTER && !DEMO)); then
    printf 'try-locally: --exit only goes with --demo\n' >&2
    exit 2
fi

deploy/dev-homeserver.sh start >/dev/null
set -a
# shellcheck disable=SC1091
. .dev/homeserver/accounts.env
set +a

mkdir -p .dev/bot-data
chmod 700 .dev/bot-data
umask 077
cat > .dev/bot.toml <<TOML
[matrix]
homeserver_url = "$HOMESERVER_URL"
user_id = "$BOT_USER_ID"
password = "$BOT_PASSWORD"
staff_rooms = ["$STAFF_ROOM_ID"]

[safeguarding]
organisation = "Example Charity (local trial)"
lead = "$LEAD_USER_ID"
deputies = ["$DEPUTY_USER_ID"]
ack_timeout = "10m"
urgent_ack_timeout = "2m"
# How long a closed concern is kept (see deploy/config.example.toml).
retention = "6 years"
${LEADS_ROOM_ID:+leads_room = \"$LEADS_ROOM_ID\"}

[storage]
data_dir = "bot-data"

[flow]
file = "../conversations/online-safety-referral.toml"
TOML

build_notice() {
    cat <<TEXT

Building the bot. The first build on a machine takes several minutes (about
5 on a fast laptop, 15 on a small server); cargo shows its progress below.
Later builds take seconds.

TEXT
}

print_accounts() {
    cat <<TEXT

A local homeserver is running at $HOMESERVER_URL. Log in with any Matrix client:

  member of staff   $STAFF_USER_ID   password $STAFF_PASSWORD
  lead (DSL)        $LEAD_USER_ID   password $LEAD_PASSWORD
  deputy            $DEPUTY_USER_ID   password $DEPUTY_PASSWORD
  not staff         $OUTSIDER_USER_ID   password $OUTSIDER_PASSWORD

As the member of staff, in the room "Staff", type /report.
As the lead, in the room "Safeguarding leads", type !list or !help.
TEXT
}

if ((!DEMO)); then
    build_notice
    cargo build --bin safeguarding-bot
    print_accounts
    cat <<TEXT
The bot is starting now; press Ctrl-C to stop it.

TEXT
    exec "${CARGO_TARGET_DIR:-target}/debug/safeguarding-bot" run --config .dev/bot.toml
fi

# --demo: build first, so the demo's time limits are not spent compiling.
build_notice
cargo build --bin safeguarding-bot --example demo
BOT_BIN="${CARGO_TARGET_DIR:-target}/debug/safeguarding-bot"
"$BOT_BIN" run --config .dev/bot.toml >.dev/bot.log 2>&1 &
BOT_PID=$!
echo "The bot is running (pid $BOT_PID, log .dev/bot.log). Playing a short scripted report:"
echo

stop_all() {
    kill "$BOT_PID" 2>/dev/null && wait "$BOT_PID" 2>/dev/null || true
    deploy/dev-homeserver.sh stop >/dev/null || true
}
if ((EXIT_AFTER)); then
    trap stop_all EXIT
fi

status=0
cargo run --quiet --example demo -- .dev/homeserver/accounts.env || status=$?
if ! kill -0 "$BOT_PID" 2>/dev/null; then
    echo "The bot has stopped; the end of .dev/bot.log:" >&2
    tail -n 20 .dev/bot.log >&2
    ((status)) || status=1
fi
if ((status)); then
    echo "The demo failed (exit status $status); see .dev/bot.log." >&2
fi

if ((EXIT_AFTER)); then
    echo "Stopping the bot and the homeserver."
    exit "$status"
fi

print_accounts
cat <<TEXT
The bot is running in the background (pid $BOT_PID, log .dev/bot.log).
To stop it:             kill $BOT_PID
To stop the homeserver: deploy/dev-homeserver.sh stop

TEXT
exit "$status"
