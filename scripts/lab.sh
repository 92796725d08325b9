#!/usr/bin/env bash
# Start (or stop) a single-machine kubesmith cluster: the API server with the embedded
# SQLite datastore, in the background, state under LAB_DIR. Idempotent: `up` on a running
# lab only prints how to use it.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-up}
dir=${2:-$PWD/.lab}
port=${3:-6443}
pidfile="$dir/server.pid"
log="$dir/server.log"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$action" in
up)
    mkdir -p "$dir"
    chmod 700 "$dir"
    if running; then
        echo "kubesmith lab is already running (pid $(cat "$pidfile"), log $log)"
    else
        rm -f "$dir/ready"
        echo "==> starting kubesmith server on 127.0.0.1:$port (data in $dir)"
        nohup .venv/bin/kubesmith server --data-dir "$dir" --secure-port "$port" \
            --ready-file "$dir/ready" >"$log" 2>&1 &
        echo $! >"$pidfile"
        for _ in $(seq 1 300); do
            [ -f "$dir/ready" ] && break
            if ! running; then
                echo "kubesmith server failed to start; last lines of $log:" >&2
                tail -n 20 "$log" >&2
                exit 1
            fi
            sleep 0.1
        done
        [ -f "$dir/ready" ] || { echo "kubesmith server did not become ready in 30 s; see $log" >&2; exit 1; }
    fi
    kubectl_bin="$PWD/.venv/bin/kubectl"
    echo
    echo "The cluster is up. Use it with:"
    echo "  export KUBECONFIG=$dir/admin.kubeconfig"
    echo "  export PATH=$PWD/.venv/bin:\$PATH   # kubectl $("$kubectl_bin" version --client 2>/dev/null | head -1 | awk '{print $3}')"
    echo "  kubectl get namespaces"
    echo "Stop it with: make lab-down"
    ;;
down)
    if running; then
        kill "$(cat "$pidfile")"
        for _ in $(seq 1 50); do running || break; sleep 0.1; done
        running && kill -9 "$(cat "$pidfile")" || true
        echo "kubesmith lab stopped"
    else
        echo "kubesmith lab is not running"
    fi
    rm -f "$pidfile" "$dir/ready"
    ;;
*)
    echo "usage: $0 up|down [DIR] [PORT]" >&2
    exit 2
    ;;
esac
