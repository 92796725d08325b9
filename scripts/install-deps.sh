#!/usr/bin/env bash
# Installs what kubesmith needs on a Debian 12 host, idempotently:
#   1. Debian packages (only when one is missing, so a second run does no apt work);
#   2. a virtualenv in .venv with kubesmith (editable) and its dev tools (only when
#      pyproject.toml changed since the last install).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    ca-certificates
    etcd-server etcd-client   # the HA datastore, and a real peer for the storage contract tests
    openssl
    python3-venv
    runc conmon                       # the OCI runtime and the container monitor (logs, exit codes, attach)
    containernetworking-plugins       # real CNI plugins for pod networking (bridge, host-local, loopback, portmap)
    iproute2 util-linux               # network namespaces; unshare pins pod namespaces
    busybox-static skopeo umoci       # images built from busybox (tests, the lab demo), pushed with skopeo
    docker-registry                   # a real OCI registry on loopback for image pull tests
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    [[ "$pkg" == \#* ]] && continue
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    echo "==> apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests start their own etcd members on free loopback ports, so a system etcd the
# package may have started (on 2379) does not get in their way and is left alone.

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.kubesmith-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> pip: installing kubesmith[dev]"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi
