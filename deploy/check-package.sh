#!/usr/bin/env bash
# Checks the Debian package that `cargo deb` built, without installing it on
# this machine (run by .ci/run):
#
#   deploy/check-package.sh target/debian/safeguarding-bot_*.deb
#
# 1. lintian finds no errors;
# 2. the files, their owners and modes, and the conffile are as listed below;
# 3. the package installs into a scratch root with `dpkg --root`, and the
#    installed program answers --version and checks the installed flowcharts;
# 4. the installed unit passes `systemd-analyze verify`;
# 5. the installed config is refused as it is (the unit would not start),
#    and passes check-config once filled in, with its paths pointed at a
#    scratch folder.
#
# Needs lintian, dpkg and systemd-analyze (.ci/run installs them).
set -euo pipefail

deb="${1:?usage: deploy/check-package.sh PATH-TO.deb}"
[ -f "$deb" ] || { echo "check-package: no such file: $deb" >&2; exit 2; }
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

fail() { echo "check-package: $*" >&2; exit 1; }

echo "-- lintian"
lintian --fail-on error --tag-display-limit 0 "$deb"
echo "lintian: no errors"

echo "-- contents"
# "mode owner path" for every entry, as dpkg-deb lists them.
dpkg-deb --contents "$deb" | awk '{ print $1, $2, $6 }' > "$scratch/contents"
# Owners are numeric: 0/0 is root:root. The config is root:root in the package: the postinst gives it to the
# bot's group with dpkg-statoverride (root:safeguarding-bot 0640).
expected=(
    "-rwxr-xr-x 0/0 ./usr/bin/safeguarding-bot"
    "-rw-r----- 0/0 ./etc/safeguarding-bot/config.toml"
    "-rw-r--r-- 0/0 ./usr/lib/systemd/system/safeguarding-bot.service"
    "-rw-r--r-- 0/0 ./usr/share/safeguarding-bot/conversations/online-safety-referral.toml"
    "-rw-r--r-- 0/0 ./usr/share/safeguarding-bot/conversations/cauk-online-safety.toml"
    "-rw-r--r-- 0/0 ./usr/share/doc/safeguarding-bot/for-leads.md"
    "-rw-r--r-- 0/0 ./usr/share/doc/safeguarding-bot/deploy-guide.md"
    "-rw-r--r-- 0/0 ./usr/share/doc/safeguarding-bot/copyright"
    "-rw-r--r-- 0/0 ./usr/share/doc/safeguarding-bot/changelog.Debian.gz"
    "-rw-r--r-- 0/0 ./usr/share/doc/safeguarding-bot/examples/config.slack.example.toml"
    "-rw-r--r-- 0/0 ./usr/share/doc/safeguarding-bot/examples/slack-app-manifest.yml"
)
for line in "${expected[@]}"; do
    grep -qxF -- "$line" "$scratch/contents" || {
        cat "$scratch/contents" >&2
        fail "the package should hold: $line"
    }
done
# Nothing under /var: the data directory is made by the postinst, and only
# a purge removes it.
if grep -q ' ./var/' "$scratch/contents"; then
    fail "the package should not ship files under /var"
fi
dpkg-deb --info "$deb" conffiles | grep -qxF /etc/safeguarding-bot/config.toml \
    || fail "/etc/safeguarding-bot/config.toml should be a conffile"
for script in postinst postrm; do
    dpkg-deb --info "$deb" "$script" > "$scratch/$script" \
        || fail "the package should have a $script"
    sh -n "$scratch/$script" || fail "$script is not valid sh"
done
grep -q 'dpkg-statoverride --update --add root safeguarding-bot 0640 /etc/safeguarding-bot/config.toml' \
    "$scratch/postinst" || fail "the postinst should give the config to the bot's group"
grep -q 'install -d -m 0700 -o safeguarding-bot' "$scratch/postinst" \
    || fail "the postinst should make the data directory, mode 0700"
# (Its own words to whoever installs it, the echo lines, may say how to.)
if grep -vE '^[[:space:]]*echo ' "$scratch/postinst" \
    | grep -qE 'systemctl .*(start|enable)|deb-systemd-invoke (start|restart)'; then
    fail "the postinst must not start or enable the service before the config is edited"
fi
# The data directory goes on purge only, never on remove.
awk '/"\$1" = "purge"/ { p = 1 } /rm -rf \/var\/lib\/safeguarding-bot/ { print p ? "purge" : "always" }' \
    "$scratch/postrm" | grep -qx purge || fail "the postrm should delete the data only on purge"
if awk '/"\$1" = "purge"/ { p = 1 } /rm -rf \/var\/lib\/safeguarding-bot/ && !p' "$scratch/postrm" | grep -q .; then
    fail "the postrm deletes the data outside purge"
fi
echo "contents: as expected"

echo "-- install into a scratch root"
root="$scratch/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
# --unpack puts the files in place and records them, as an install does; it
# runs no postinst (that would add a user to this machine).
dpkg --root="$root" --force-depends --unpack "$deb" >/dev/null
dpkg --root="$root" --listfiles safeguarding-bot | grep -qx /usr/bin/safeguarding-bot \
    || fail "dpkg --root did not record /usr/bin/safeguarding-bot"
bin="$root/usr/bin/safeguarding-bot"
"$bin" --version
"$bin" --version | grep -qE '^safeguarding-bot [0-9.]+ \(flowchart format [0-9]+\)$' \
    || fail "--version should name the version and the flowchart format"
"$bin" flow check "$root"/usr/share/safeguarding-bot/conversations/*.toml

echo "-- the installed unit"
unit="$scratch/unit/safeguarding-bot.service"
mkdir -p "$scratch/unit"
sed "s#/usr/bin/safeguarding-bot#$bin#g" \
    "$root/usr/lib/systemd/system/safeguarding-bot.service" > "$unit"
systemd-analyze verify "$unit"
echo "systemd-analyze verify: ok"

echo "-- the installed config"
config="$root/etc/safeguarding-bot/config.toml"
# dpkg --unpack leaves a new conffile as .dpkg-new; --configure moves it into
# place (and runs the postinst, which is not run here).
[ -f "$config" ] || mv "$config.dpkg-new" "$config"
if "$bin" check-config "$config" > "$scratch/out" 2>&1; then
    cat "$scratch/out" >&2
    fail "the config as installed (not yet edited) should be refused"
fi
grep -q "is the example config, not filled in yet" "$scratch/out" \
    || { cat "$scratch/out" >&2; fail "check-config should say the config is not filled in yet"; }
echo "unedited config refused: $(head -c 120 "$scratch/out")..."
mkdir -p "$scratch/data"
sed -e "s#^data_dir = .*#data_dir = \"$scratch/data\"#" \
    -e "s#^file = \"/usr/share/#file = \"$root/usr/share/#" \
    "$config" > "$scratch/config.toml"
"$bin" check-config "$scratch/config.toml"
echo "check-package: ok"
