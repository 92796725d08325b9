#!/usr/bin/env bash
# A single-node kubesmith cluster on this machine: the API server with the embedded SQLite
# datastore (controllers and scheduler in-process) and the node agent running real pods
# (runc, conmon, CNI), then a demo Deployment. State under LAB_DIR. Idempotent: `up` on a
# running lab only checks it and prints how to use it; `down` removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-up}
dir=${2:-$PWD/.lab}
port=${3:-6443}
agent_port=${LAB_AGENT_PORT:-10250}
node=${LAB_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}
bridge=kslab0
run_dir=/run/kubesmith/lab
bin=$PWD/.venv/bin
export PATH="$bin:$PATH"
export KUBECONFIG="$dir/admin.kubeconfig"

step() { printf '==> [%s] %s\n' "$(date +%T)" "$*"; }
running() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

stop() {  # stop NAME: SIGTERM, then SIGKILL after 10 s
    local name=$1
    if running "$name"; then
        kill "$(cat "$dir/$name.pid")"
        for _ in $(seq 1 100); do running "$name" || break; sleep 0.1; done
        running "$name" && kill -9 "$(cat "$dir/$name.pid")" || true
    fi
    rm -f "$dir/$name.pid"
}

start_server() {
    if running server; then return; fi
    rm -f "$dir/ready"
    step "starting the API server on 127.0.0.1:$port (embedded datastore in $dir)"
    nohup kubesmith server --data-dir "$dir" --secure-port "$port" \
        --ready-file "$dir/ready" >"$dir/server.log" 2>&1 &
    echo $! >"$dir/server.pid"
    for _ in $(seq 1 300); do
        [ -f "$dir/ready" ] && return
        if ! running server; then
            echo "kubesmith server failed to start; last lines of $dir/server.log:" >&2
            tail -n 20 "$dir/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "kubesmith server did not become ready in 30 s; see $dir/server.log" >&2
    exit 1
}

bootstrap_kubeconfig() {
    # The agent joins like any node: a bootstrap token, then a client certificate through
    # a CertificateSigningRequest. Only needed until the agent has its own kubeconfig.
    [ -f "$dir/agent/pki/kubelet.kubeconfig" ] && return
    local id secret
    id=$(head -c 3 /dev/urandom | xxd -p)
    secret=$(head -c 8 /dev/urandom | xxd -p)
    step "creating a bootstrap token for node $node"
    kubectl -n kube-system create secret generic "bootstrap-token-$id" \
        --type bootstrap.kubernetes.io/token --from-literal "token-id=$id" \
        --from-literal "token-secret=$secret" --from-literal usage-bootstrap-authentication=true \
        --from-literal "expiration=$(date -u -d '+1 hour' +%FT%TZ)" >/dev/null
    local b="$dir/bootstrap.kubeconfig"
    (umask 077
     kubectl config --kubeconfig "$b" set-cluster lab --server="https://127.0.0.1:$port" \
         --certificate-authority="$dir/pki/ca.crt" --embed-certs >/dev/null
     kubectl config --kubeconfig "$b" set-credentials bootstrap --token="$id.$secret" >/dev/null
     kubectl config --kubeconfig "$b" set-context lab --cluster lab --user bootstrap >/dev/null
     kubectl config --kubeconfig "$b" use-context lab >/dev/null)
}

start_agent() {
    if running agent; then return; fi
    bootstrap_kubeconfig
    step "starting the node agent for $node (pods in $dir/agent, logs in $dir/pods)"
    local boot=()
    [ -f "$dir/bootstrap.kubeconfig" ] && boot=(--bootstrap-kubeconfig "$dir/bootstrap.kubeconfig")
    nohup kubesmith agent "${boot[@]}" --node-name "$node" --node-ip 127.0.0.1 \
        --address 127.0.0.1 --port "$agent_port" --root-dir "$dir/agent" --run-dir "$run_dir" \
        --pod-log-dir "$dir/pods" --cni-conf-dir "$dir/cni" \
        --default-network-bridge "$bridge" >"$dir/agent.log" 2>&1 &
    echo $! >"$dir/agent.pid"
    for _ in $(seq 1 300); do
        if kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' \
                2>/dev/null | grep -qx True; then
            rm -f "$dir/bootstrap.kubeconfig"
            return
        fi
        if ! running agent; then
            echo "kubesmith agent failed to start; last lines of $dir/agent.log:" >&2
            tail -n 20 "$dir/agent.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "node $node did not become Ready in 60 s; see $dir/agent.log" >&2
    exit 1
}

demo_image() {
    # No registry is reachable from here: build a small image from Debian's busybox-static
    # with umoci and import it into the node's image store.
    if kubesmith images list --root-dir "$dir/agent" 2>/dev/null | grep -q '^kubesmith.local/busybox '; then
        return
    fi
    step "building the demo image kubesmith.local/busybox:1.35 from /usr/bin/busybox"
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    umoci init --layout "$work/oci"
    umoci new --image "$work/oci:1.35"
    umoci unpack --image "$work/oci:1.35" "$work/bundle" >/dev/null
    mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/www" "$work/bundle/rootfs/tmp"
    cp /usr/bin/busybox "$work/bundle/rootfs/bin/"
    for applet in $(/usr/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$applet"
    done
    echo "hello from kubesmith" >"$work/bundle/rootfs/www/index.html"
    umoci repack --image "$work/oci:1.35" "$work/bundle"
    umoci config --image "$work/oci:1.35" --config.cmd sh --config.env PATH=/bin \
        --config.workingdir /
    tar -C "$work/oci" -cf "$work/busybox.tar" .
    kubesmith images import "$work/busybox.tar" --root-dir "$dir/agent" \
        --base-name kubesmith.local/busybox
}

demo() {
    if ! kubectl get deployment demo >/dev/null 2>&1; then
        step "creating the demo Deployment (2 replicas of busybox httpd)"
        kubectl create deployment demo --image=kubesmith.local/busybox:1.35 --replicas=2 \
            --port=8080 -- httpd -f -p 8080 -h /www >/dev/null
    fi
    step "waiting for the demo rollout"
    kubectl rollout status deployment/demo --timeout=120s
    kubectl get pods -o wide
}

case "$action" in
up)
    if [ "$(id -u)" != 0 ]; then
        echo "make lab needs root: the node agent creates namespaces, mounts and cgroups" >&2
        exit 1
    fi
    mkdir -p "$dir"
    chmod 700 "$dir"
    start_server
    start_agent
    demo_image
    demo
    echo
    echo "The cluster is up: one node ($node) running real pods. Use it with:"
    echo "  export KUBECONFIG=$KUBECONFIG"
    echo "  export PATH=$bin:\$PATH   # kubectl $(kubectl version --client 2>/dev/null | head -1 | awk '{print $3}')"
    echo "  kubectl get pods -o wide"
    echo "  kubectl logs deployment/demo"
    echo "  kubectl exec deployment/demo -- wget -qO- http://127.0.0.1:8080/"
    echo "  kubectl port-forward deployment/demo 8080:8080   # then: curl http://127.0.0.1:8080/"
    echo "Logs: $dir/server.log, $dir/agent.log. Stop and remove it all with: make lab-down"
    ;;
down)
    if running server && running agent; then
        # Let the agent stop the pods gracefully while it still runs.
        step "deleting the demo Deployment"
        kubectl delete deployment demo --ignore-not-found --timeout=60s >/dev/null 2>&1 || true
    fi
    step "stopping the agent and the API server"
    stop agent
    stop server
    if [ -d "$dir/agent" ] || [ -d "$run_dir" ]; then
        step "removing what the agent left (containers, pod networks, mounts, cgroups)"
        kubesmith agent-reset --root-dir "$dir/agent" --run-dir "$run_dir" \
            --pod-log-dir "$dir/pods" --cni-conf-dir "$dir/cni" \
            --default-network-bridge "$bridge" || true
    fi
    ip link del "$bridge" 2>/dev/null || true
    rm -f "$dir/ready"
    echo "kubesmith lab stopped (data kept in $dir; remove it for a fresh cluster)"
    ;;
*)
    echo "usage: $0 up|down [DIR] [PORT]" >&2
    exit 2
    ;;
esac
