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
set -euo pipefail
cd "$(dirname "$0")/.."

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

[storage]
data_dir = "bot-data"

[flow]
file = "../conversations/online-safety-referral.toml"
TOML

cat <<TEXT

A local homeserver is running at $HOMESERVER_URL. Log in with any Matrix client:

  member of staff   $STAFF_USER_ID   password $STAFF_PASSWORD
  lead (DSL)        $LEAD_USER_ID   password $LEAD_PASSWORD
  deputy            $DEPUTY_USER_ID   password $DEPUTY_PASSWORD
  not staff         $OUTSIDER_USER_ID   password $OUTSIDER_PASSWORD

As the member of staff, in the room "Staff", type /report.
The bot is starting now; press Ctrl-C to stop it.

TEXT
exec cargo run --quiet -- run --config .dev/bot.toml
