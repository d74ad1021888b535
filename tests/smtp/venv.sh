#!/usr/bin/env bash
# Installs the test SMTP server's packages (aiosmtpd, trustme, from PyPI)
# into the virtualenv the test homeserver uses (DIR/venv, made here if it
# is not there yet), under the same lock as deploy/dev-homeserver.sh.
#
#   tests/smtp/venv.sh DIR     prints the virtualenv's python
set -euo pipefail
DIR="$1"
PYTHON="${SAFEGUARDING_DEV_PYTHON:-python3}"
mkdir -p "$DIR"
chmod 700 "$DIR"
if command -v flock >/dev/null; then
    exec 9>"$DIR/.lock"
    flock 9
fi
if ! "$DIR/venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$DIR/venv"
    "$PYTHON" -m venv "$DIR/venv" >&2
fi
if ! "$DIR/venv/bin/python" -c 'import aiosmtpd, trustme' >/dev/null 2>&1; then
    if ! "$DIR/venv/bin/python" -m pip install --prefer-binary --disable-pip-version-check \
        --no-input aiosmtpd==1.4.6 trustme==1.2.1 >"$DIR/pip-smtp.log" 2>&1; then
        tail -n 30 "$DIR/pip-smtp.log" >&2
        echo "pip install of aiosmtpd and trustme failed; see $DIR/pip-smtp.log" >&2
        exit 1
    fi
fi
echo "$DIR/venv/bin/python"
