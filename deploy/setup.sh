#!/usr/bin/env bash
# Installs and starts everything Fjord's tests and demo need on a Debian/Ubuntu machine with
# Node 20+: Debian packages (as root), npm packages, and Postgres and NATS when not reachable
# (with --demo, a missing Postgres is left to the demo, which embeds one).
# Idempotent: a second run only checks. Under CI=true any missing prerequisite is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
for_demo=0
[ "${1:-}" = "--demo" ] && for_demo=1  # deploy/demo.sh: without a Postgres the demo embeds its own

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"

debian_packages=(openvswitch-switch lxc keepalived haproxy busybox-static iputils-ping iproute2 tcpdump ethtool curl nats-server postgresql-client)
commands_needed=(ovs-vsctl ovs-vswitchd ovsdb-server lxc-create keepalived haproxy busybox ping ip tcpdump ethtool curl nats-server psql pg_isready)
missing=()
for c in "${commands_needed[@]}"; do command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing+=("$c"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages (missing: ${missing[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debian_packages[@]}" >/dev/null
  elif [ "${CI:-}" = "true" ]; then
    die "missing ${missing[*]}; run as root on Debian/Ubuntu so this script can install them"
  else
    say "warning: missing ${missing[*]} (not root: cannot install); the lab tests will skip and the demo will simulate its hosts"
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ "${CI:-}" = "true" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# NATS with JetStream on 127.0.0.1:4222 unless NATS_URL names another one.
if [ -z "${NATS_URL:-}" ] && ! tcp_open 127.0.0.1 4222; then
  say "starting nats-server with JetStream on 127.0.0.1:4222"
  install -d /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server || echo /usr/sbin/nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 50); do tcp_open 127.0.0.1 4222 && break; sleep 0.1; done
  tcp_open 127.0.0.1 4222 || die "nats-server did not start; see /var/log/nats-server.log"
fi

# Postgres on 127.0.0.1:5432 (trust for user postgres) unless DATABASE_URL names another one.
if [ -z "${DATABASE_URL:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    say "starting the local Postgres cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 && [ "$for_demo" = 1 ]; then
    say "no Postgres on 127.0.0.1:5432: the demo will start an embedded one for its run"
  elif ! pg_isready -q -h 127.0.0.1 -p 5432; then
    [ "$(id -u)" -eq 0 ] || die "no Postgres on 127.0.0.1:5432; set DATABASE_URL or run as root to start one"
    say "starting a Postgres for Fjord in /var/lib/fjord/postgres (trust auth, 127.0.0.1 only)"
    command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    data=/var/lib/fjord/postgres
    if [ ! -f "$data/PG_VERSION" ]; then
      install -d -o postgres -g postgres "$data"
      runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
    fi
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -o "-c listen_addresses=127.0.0.1 -p 5432 -k /tmp" -w start >/dev/null
    pg_isready -q -h 127.0.0.1 -p 5432 || die "Postgres did not start"
  fi
fi
say "ready: Node $(node --version), Postgres ${DATABASE_URL:-127.0.0.1:5432}, NATS ${NATS_URL:-127.0.0.1:4222}"
