"""Printers for the built-in kinds, cell for cell as ``pkg/printers/internalversion``.

Each ``_<kind>_cells`` function mirrors upstream's ``print<Kind>`` with ``Wide: true`` (the
server always prints wide), reading the versioned JSON the way the internal Go object
would read after defaulting: a missing ``spec.replicas`` is 1, a missing protocol TCP.
Column names, types, formats, descriptions and priorities are upstream's; a few column
types disagree with their cells upstream (the CronJob ``Suspend`` column is ``boolean``
but holds ``"False"``); those are kept as upstream has them, since kubectl prints what
the cell holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from kubesmith.api.selectors import (
    SelectorError,
    format_label_selector,
    format_labels,
    label_selector_from_object,
)
from kubesmith.api.tables._descriptions import description
from kubesmith.api.tables._printer import (
    AGE_COLUMN,
    DEFAULT_PRINTER,
    NAME_COLUMN,
    NAME_DOC,
    CellsFn,
    Column,
    TablePrinter,
)
from kubesmith.api.tables._values import (
    human_duration,
    parse_time,
    quantity_string,
    since,
)
from kubesmith.api.types import Obj

__all__ = ["table_for"]

_NONE = "<none>"
_UNSET = "<unset>"
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."


def _d(key: str) -> str:
    return description(key)


def _col(name: str, type_: str, description: str, priority: int = 0,
         format_: str = "") -> Column:
    return Column(name, type_, description, format_, priority)


def _wide(name: str, description: str, type_: str = "string") -> Column:
    return Column(name, type_, description, "", 1)


def _m(obj: Mapping[str, Any], *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` or None where something is missing."""
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _name(obj: Obj) -> str:
    return str(_m(obj, "metadata", "name") or "")


def _age(obj: Obj, now: datetime) -> str:
    return since(_m(obj, "metadata", "creationTimestamp"), now)


def _int(value: Any, default: int = 0) -> int:
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _layout_containers(containers: Sequence[Mapping[str, Any]] | None) -> tuple[str, str]:
    containers = containers or []
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return names, images


def _template_containers(obj: Obj) -> Any:
    return _m(obj, "spec", "template", "spec", "containers")


def _has_condition(conditions: Any, type_: str) -> bool:
    # Upstream looks at the first condition of that type only.
    for condition in conditions or []:
        if condition.get("type") == type_:
            return bool(condition.get("status") == "True")
    return False


# ---- core/v1 ---------------------------------------------------------------------------

_POD_COLUMNS = [
    NAME_COLUMN,
    _col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "string", "The aggregate status of the containers in this pod."),
    _col("Restarts", "string", "The number of times the containers in this pod have been "
         "restarted and when the last container in this pod has restarted."),
    AGE_COLUMN,
    _wide("IP", _d("core/v1.PodStatus.podIP")),
    _wide("Node", _d("core/v1.PodSpec.nodeName")),
    _wide("Nominated Node", _d("core/v1.PodStatus.nominatedNodeName")),
    _wide("Readiness Gates", _d("core/v1.PodSpec.readinessGates")),
]


def _is_restartable_init(container: Mapping[str, Any] | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _later(current: datetime | None, candidate: Any) -> datetime | None:
    stamp = parse_time(candidate)
    if stamp is None:
        return current
    if current is None or current < stamp:
        return stamp
    return current


def _terminated_reason(terminated: Mapping[str, Any], prefix: str) -> str:
    reason = terminated.get("reason") or ""
    if reason:
        return prefix + reason
    signal = _int(terminated.get("signal"))
    if signal:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _pod_cells(pod: Obj, now: datetime) -> list[Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    containers = spec.get("containers") or []
    init_specs = spec.get("initContainers") or []
    init_by_name = {c.get("name"): c for c in init_specs}
    total = len(containers) + sum(1 for c in init_specs if _is_restartable_init(c))
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "PodScheduled" and \
                condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += _int(cs.get("restartCount"))
        last_term = _m(cs, "lastState", "terminated")
        if last_term is not None:
            last_restart = _later(last_restart, last_term.get("finishedAt"))
        sidecar = _is_restartable_init(init_by_name.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += _int(cs.get("restartCount"))
            if last_term is not None:
                last_sidecar_restart = _later(last_sidecar_restart, last_term.get("finishedAt"))
        state = cs.get("state") or {}
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and \
                waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _pod_initialized(conditions):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += _int(cs.get("restartCount"))
            last_term = _m(cs, "lastState", "terminated")
            if last_term is not None:
                last_restart = _later(last_restart, last_term.get("finishedAt"))
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated, "")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod whose last container completed but another still runs is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(conditions, "Ready") else "NotReady"

    deleting = _m(pod, "metadata", "deletionTimestamp") is not None
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"

    pod_ips = status.get("podIPs") or []
    pod_ip = (pod_ips[0] or {}).get("ip") or "" if pod_ips else ""
    gates = spec.get("readinessGates") or []
    gates_text = _NONE
    if gates:
        true_count = 0
        for gate in gates:
            for condition in conditions:
                if condition.get("type") == gate.get("conditionType"):
                    if condition.get("status") == "True":
                        true_count += 1
                    break
        gates_text = f"{true_count}/{len(gates)}"
    return [
        _name(pod), f"{ready}/{total}", reason, restarts_text, _age(pod, now),
        pod_ip or _NONE, spec.get("nodeName") or _NONE,
        status.get("nominatedNodeName") or _NONE, gates_text,
    ]


def _pod_initialized(conditions: Sequence[Mapping[str, Any]]) -> bool:
    for condition in conditions:
        if condition.get("type") == "Initialized":
            return bool(condition.get("status") == "True")
    return False


def _pod_conditions(pod: Obj) -> list[dict[str, str]] | None:
    phase = _m(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return None


_POD_TEMPLATE_COLUMNS = [
    NAME_COLUMN,
    _col("Containers", "string", _CONTAINERS_DOC),
    _col("Images", "string", _IMAGES_DOC),
    _col("Pod Labels", "string", "The labels for the pod template."),
]


def _pod_template_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = _layout_containers(_template_containers(obj))
    return [_name(obj), names, images, format_labels(_m(obj, "template", "metadata", "labels"))]


_RC_COLUMNS = [
    NAME_COLUMN,
    _col("Desired", "integer", _d("core/v1.ReplicationControllerSpec.replicas")),
    _col("Current", "integer", _d("core/v1.ReplicationControllerStatus.replicas")),
    _col("Ready", "integer", _d("core/v1.ReplicationControllerStatus.readyReplicas")),
    AGE_COLUMN,
    _wide("Containers", _CONTAINERS_DOC),
    _wide("Images", _IMAGES_DOC),
    _wide("Selector", _d("core/v1.ReplicationControllerSpec.selector")),
]


def _rc_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = _layout_containers(_template_containers(obj))
    return [
        _name(obj), _int(_m(obj, "spec", "replicas"), 1), _int(_m(obj, "status", "replicas")),
        _int(_m(obj, "status", "readyReplicas")), _age(obj, now),
        names, images, format_labels(_m(obj, "spec", "selector")),
    ]


_SERVICE_COLUMNS = [
    NAME_COLUMN,
    _col("Type", "string", _d("core/v1.ServiceSpec.type")),
    _col("Cluster-IP", "string", _d("core/v1.ServiceSpec.clusterIP")),
    _col("External-IP", "string", _d("core/v1.ServiceSpec.externalIPs")),
    _col("Port(s)", "string", _d("core/v1.ServiceSpec.ports")),
    AGE_COLUMN,
    _wide("Selector", _d("core/v1.ServiceSpec.selector")),
]


def _load_balancer_ingress(ingress: Any) -> str:
    # Upstream collects IPs (else hostnames) into a sorted set; the server prints wide, so
    # nothing is clipped to 16 characters.
    found: set[str] = set()
    for entry in ingress or []:
        if entry.get("ip"):
            found.add(entry["ip"])
        elif entry.get("hostname"):
            found.add(entry["hostname"])
    return ",".join(sorted(found))


def _service_external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    svc_type = spec.get("type") or "ClusterIP"
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else _NONE
    if svc_type == "LoadBalancer":
        lb_ips = _load_balancer_ingress(_m(status, "loadBalancer", "ingress"))
        if external:
            return ",".join([*(lb_ips.split(",") if lb_ips else []), *external])
        return lb_ips or "<pending>"
    if svc_type == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _port_string(ports: Any) -> str:
    pieces = []
    for port in ports or []:
        protocol = port.get("protocol") or "TCP"
        node_port = _int(port.get("nodePort"))
        if node_port > 0:
            pieces.append(f"{_int(port.get('port'))}:{node_port}/{protocol}")
        else:
            pieces.append(f"{_int(port.get('port'))}/{protocol}")
    return ",".join(pieces)


def _service_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP")
                                             else [])
    return [
        _name(obj), spec.get("type") or "ClusterIP", cluster_ips[0] if cluster_ips else _NONE,
        _service_external_ip(spec, status), _port_string(spec.get("ports")) or _NONE,
        _age(obj, now), format_labels(spec.get("selector")),
    ]


_ENDPOINTS_COLUMNS = [
    NAME_COLUMN,
    _col("Endpoints", "string", _d("core/v1.Endpoints.subsets")),
    AGE_COLUMN,
]


def _join_host_port(host: str, port: int) -> str:
    # net.JoinHostPort brackets anything containing a colon (IPv6).
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _format_endpoints(subsets: Any) -> str:
    if not subsets:
        return _NONE
    listed: list[str] = []
    limit = 3
    more = False
    count = 0
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:
            # Headless services may have no ports.
            count += len(addresses)
            for address in addresses:
                if len(listed) == limit:
                    more = True
                    break
                listed.append(str(address.get("ip", "")))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(listed) == limit:
                    more = True
                    break
                listed.append(_join_host_port(str(address.get("ip", "")),
                                              _int(port.get("port"))))
    text = ",".join(listed)
    if more:
        return f"{text} + {count - limit} more..."
    return text


def _endpoints_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _format_endpoints(obj.get("subsets")), _age(obj, now)]


_NODE_COLUMNS = [
    NAME_COLUMN,
    _col("Status", "string", "The status of the node"),
    _col("Roles", "string", "The roles of the node"),
    AGE_COLUMN,
    _col("Version", "string", _d("core/v1.NodeSystemInfo.kubeletVersion")),
    _wide("Internal-IP", _d("core/v1.NodeStatus.addresses")),
    _wide("External-IP", _d("core/v1.NodeStatus.addresses")),
    _wide("OS-Image", _d("core/v1.NodeSystemInfo.osImage")),
    _wide("Kernel-Version", _d("core/v1.NodeSystemInfo.kernelVersion")),
    _wide("Container-Runtime", _d("core/v1.NodeSystemInfo.containerRuntimeVersion")),
]
_ROLE_PREFIX = "node-role.kubernetes.io/"


def _node_roles(labels: Mapping[str, str] | None) -> list[str]:
    roles: set[str] = set()
    for key, value in (labels or {}).items():
        if key.startswith(_ROLE_PREFIX):
            if role := key[len(_ROLE_PREFIX):]:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return sorted(roles)


def _node_address(addresses: Any, type_: str) -> str:
    for address in addresses or []:
        if address.get("type") == type_:
            return str(address.get("address", ""))
    return _NONE


def _node_cells(obj: Obj, now: datetime) -> list[Any]:
    status = obj.get("status") or {}
    info = status.get("nodeInfo") or {}
    # Only the Ready condition shapes the status; the last one of that type wins.
    ready_condition = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            ready_condition = condition
    states = []
    if ready_condition is not None:
        states.append("Ready" if ready_condition.get("status") == "True" else "NotReady")
    else:
        states.append("Unknown")
    if _m(obj, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    roles = ",".join(_node_roles(_m(obj, "metadata", "labels")))
    addresses = status.get("addresses")
    return [
        _name(obj), ",".join(states), roles or _NONE, _age(obj, now),
        info.get("kubeletVersion") or "",
        _node_address(addresses, "InternalIP"), _node_address(addresses, "ExternalIP"),
        info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_EVENT_COLUMNS = [
    _col("Last Seen", "string", _d("core/v1.Event.lastTimestamp")),
    _col("Type", "string", _d("core/v1.Event.type")),
    _col("Reason", "string", _d("core/v1.Event.reason")),
    _col("Object", "string", _d("core/v1.Event.involvedObject")),
    _wide("Subobject", _d("core/v1.ObjectReference.fieldPath")),
    _wide("Source", _d("core/v1.Event.source")),
    _col("Message", "string", _d("core/v1.Event.message")),
    _wide("First Seen", _d("core/v1.Event.firstTimestamp")),
    _wide("Count", _d("core/v1.Event.count")),
    _col("Name", "string", NAME_DOC, 1, "name"),
]


def _event_row(obj: Obj, now: datetime, *, involved: Mapping[str, Any], first: Any,
               last: Any, count: Any, series: Any, source: Mapping[str, Any],
               reporting_controller: Any, reporting_instance: Any, message: Any) -> list[Any]:
    first_seen = since(first, now)
    if parse_time(first) is None:
        first_seen = since(obj.get("eventTime"), now)
    last_seen = since(last, now) if parse_time(last) is not None else first_seen
    shown_count = _int(count)
    if series is not None:
        last_seen = since(series.get("lastObservedTime"), now)
        shown_count = _int(series.get("count"))
    elif shown_count == 0:
        # Singleton events of the new API have no count.
        shown_count = 1
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = source.get("component") or reporting_controller or ""
    host = source.get("host") or reporting_instance or ""
    return [
        last_seen, obj.get("type") or "", obj.get("reason") or "", target,
        involved.get("fieldPath") or "", f"{component}, {host}" if host else component,
        str(message or "").strip(), first_seen, shown_count, _name(obj),
    ]


def _core_event_cells(obj: Obj, now: datetime) -> list[Any]:
    return _event_row(obj, now, involved=obj.get("involvedObject") or {},
                      first=obj.get("firstTimestamp"), last=obj.get("lastTimestamp"),
                      count=obj.get("count"), series=obj.get("series"),
                      source=obj.get("source") or {},
                      reporting_controller=obj.get("reportingComponent"),
                      reporting_instance=obj.get("reportingInstance"),
                      message=obj.get("message"))


def _events_v1_cells(obj: Obj, now: datetime) -> list[Any]:
    # events.k8s.io/v1 Events are served from the core storage and printed after converting
    # to the internal Event: regarding, note and the deprecated* fields map back.
    return _event_row(obj, now, involved=obj.get("regarding") or {},
                      first=obj.get("deprecatedFirstTimestamp"),
                      last=obj.get("deprecatedLastTimestamp"),
                      count=obj.get("deprecatedCount"), series=obj.get("series"),
                      source=obj.get("deprecatedSource") or {},
                      reporting_controller=obj.get("reportingController"),
                      reporting_instance=obj.get("reportingInstance"),
                      message=obj.get("note"))


_NAMESPACE_COLUMNS = [
    NAME_COLUMN,
    _col("Status", "string", "The status of the namespace"),
    AGE_COLUMN,
]


def _namespace_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _m(obj, "status", "phase") or "", _age(obj, now)]


_SECRET_COLUMNS = [
    NAME_COLUMN,
    _col("Type", "string", _d("core/v1.Secret.type")),
    _col("Data", "string", _d("core/v1.Secret.data")),
    AGE_COLUMN,
]


def _secret_cells(obj: Obj, now: datetime) -> list[Any]:
    # stringData is folded into data on write, so only data counts.
    return [_name(obj), obj.get("type") or "", len(obj.get("data") or {}), _age(obj, now)]


_SERVICE_ACCOUNT_COLUMNS = [
    NAME_COLUMN,
    _col("Secrets", "string", _d("core/v1.ServiceAccount.secrets")),
    AGE_COLUMN,
]


def _service_account_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), len(obj.get("secrets") or []), _age(obj, now)]


_PV_COLUMNS = [
    NAME_COLUMN,
    _col("Capacity", "string", _d("core/v1.PersistentVolumeSpec.capacity")),
    _col("Access Modes", "string", _d("core/v1.PersistentVolumeSpec.accessModes")),
    _col("Reclaim Policy", "string",
         _d("core/v1.PersistentVolumeSpec.persistentVolumeReclaimPolicy")),
    _col("Status", "string", _d("core/v1.PersistentVolumeStatus.phase")),
    _col("Claim", "string", _d("core/v1.PersistentVolumeSpec.claimRef")),
    _col("StorageClass", "string", "StorageClass of the pv"),
    _col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    _col("Reason", "string", _d("core/v1.PersistentVolumeStatus.reason")),
    AGE_COLUMN,
    _wide("VolumeMode", _d("core/v1.PersistentVolumeSpec.volumeMode")),
]
_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"


def _access_modes(modes: Any) -> str:
    present = set(modes or [])
    short = [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
             ("ReadWriteOncePod", "RWOP")]
    return ",".join(abbrev for mode, abbrev in short if mode in present)


def _pv_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    claim = spec.get("claimRef")
    claim_text = f"{claim.get('namespace') or ''}/{claim.get('name') or ''}" if claim else ""
    phase = _m(obj, "status", "phase") or ""
    if _m(obj, "metadata", "deletionTimestamp") is not None:
        phase = "Terminating"
    annotations = _m(obj, "metadata", "annotations") or {}
    storage_class = annotations[_BETA_STORAGE_CLASS] if _BETA_STORAGE_CLASS in annotations \
        else spec.get("storageClassName") or ""
    return [
        _name(obj), quantity_string((spec.get("capacity") or {}).get("storage")),
        _access_modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy") or "",
        phase, claim_text, storage_class, spec.get("volumeAttributesClassName") or _UNSET,
        _m(obj, "status", "reason") or "", _age(obj, now), spec.get("volumeMode") or _UNSET,
    ]


_PVC_COLUMNS = [
    NAME_COLUMN,
    _col("Status", "string", _d("core/v1.PersistentVolumeClaimStatus.phase")),
    _col("Volume", "string", _d("core/v1.PersistentVolumeClaimSpec.volumeName")),
    _col("Capacity", "string", _d("core/v1.PersistentVolumeClaimStatus.capacity")),
    _col("Access Modes", "string", _d("core/v1.PersistentVolumeClaimStatus.accessModes")),
    _col("StorageClass", "string", "StorageClass of the pvc"),
    _col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    AGE_COLUMN,
    _wide("VolumeMode", _d("core/v1.PersistentVolumeClaimSpec.volumeMode")),
]


def _pvc_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    phase = status.get("phase") or ""
    if _m(obj, "metadata", "deletionTimestamp") is not None:
        phase = "Terminating"
    capacity = ""
    access = ""
    # Capacity and modes are shown only once the claim is bound to a volume.
    if spec.get("volumeName"):
        access = _access_modes(status.get("accessModes"))
        capacity = quantity_string((status.get("capacity") or {}).get("storage"))
    annotations = _m(obj, "metadata", "annotations") or {}
    storage_class = annotations[_BETA_STORAGE_CLASS] if _BETA_STORAGE_CLASS in annotations \
        else spec.get("storageClassName") or ""
    return [
        _name(obj), phase, spec.get("volumeName") or "", capacity, access, storage_class,
        spec.get("volumeAttributesClassName") or _UNSET, _age(obj, now),
        spec.get("volumeMode") or _UNSET,
    ]


_COMPONENT_STATUS_COLUMNS = [
    NAME_COLUMN,
    _col("Status", "string", "Status of the component conditions"),
    _col("Message", "string", "Message of the component conditions"),
    _col("Error", "string", "Error of the component conditions"),
]


def _component_status_cells(obj: Obj, now: datetime) -> list[Any]:
    status, message, error = "Unknown", "", ""
    for condition in obj.get("conditions") or []:
        if condition.get("type") == "Healthy":
            status = "Healthy" if condition.get("status") == "True" else "Unhealthy"
            message = condition.get("message") or ""
            error = condition.get("error") or ""
            break
    return [_name(obj), status, message, error]


_CONFIG_MAP_COLUMNS = [
    NAME_COLUMN,
    _col("Data", "string", _d("core/v1.ConfigMap.data")),
    AGE_COLUMN,
]


def _config_map_cells(obj: Obj, now: datetime) -> list[Any]:
    size = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [_name(obj), size, _age(obj, now)]


_RESOURCE_QUOTA_COLUMNS = [
    NAME_COLUMN,
    _col("Request", "string", "Request represents a minimum amount of cpu/memory that a "
         "container may consume."),
    _col("Limit", "string", "Limits control the maximum amount of cpu/memory that a "
         "container may use independent of contention on the node."),
    AGE_COLUMN,
]


def _resource_quota_cells(obj: Obj, now: datetime) -> list[Any]:
    hard = _m(obj, "status", "hard") or {}
    used = _m(obj, "status", "used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        pieces = resource.split(".")
        target = limits if len(pieces) > 1 and pieces[0] == "limits" else requests
        target.append(f"{resource}: {quantity_string(used.get(resource))}/"
                      f"{quantity_string(hard[resource])}")
    return [_name(obj), ", ".join(requests), ", ".join(limits), _age(obj, now)]


# ---- apps/v1 ---------------------------------------------------------------------------

_RS_COLUMNS = [
    NAME_COLUMN,
    _col("Desired", "integer", _d("extensions/v1beta1.ReplicaSetSpec.replicas")),
    _col("Current", "integer", _d("extensions/v1beta1.ReplicaSetStatus.replicas")),
    _col("Ready", "integer", _d("extensions/v1beta1.ReplicaSetStatus.readyReplicas")),
    AGE_COLUMN,
    _wide("Containers", _CONTAINERS_DOC),
    _wide("Images", _IMAGES_DOC),
    _wide("Selector", _d("extensions/v1beta1.ReplicaSetSpec.selector")),
]


def _rs_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = _layout_containers(_template_containers(obj))
    return [
        _name(obj), _int(_m(obj, "spec", "replicas"), 1), _int(_m(obj, "status", "replicas")),
        _int(_m(obj, "status", "readyReplicas")), _age(obj, now),
        names, images, format_label_selector(_m(obj, "spec", "selector")),
    ]


_DAEMON_SET_COLUMNS = [
    NAME_COLUMN,
    _col("Desired", "integer", _d("extensions/v1beta1.DaemonSetStatus.desiredNumberScheduled")),
    _col("Current", "integer", _d("extensions/v1beta1.DaemonSetStatus.currentNumberScheduled")),
    _col("Ready", "integer", _d("extensions/v1beta1.DaemonSetStatus.numberReady")),
    _col("Up-to-date", "integer",
         _d("extensions/v1beta1.DaemonSetStatus.updatedNumberScheduled")),
    _col("Available", "integer", _d("extensions/v1beta1.DaemonSetStatus.numberAvailable")),
    _col("Node Selector", "string", _d("core/v1.PodSpec.nodeSelector")),
    AGE_COLUMN,
    _wide("Containers", _CONTAINERS_DOC),
    _wide("Images", _IMAGES_DOC),
    _wide("Selector", _d("extensions/v1beta1.DaemonSetSpec.selector")),
]


def _daemon_set_cells(obj: Obj, now: datetime) -> list[Any]:
    status = obj.get("status") or {}
    names, images = _layout_containers(_template_containers(obj))
    return [
        _name(obj), _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")), _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")), _int(status.get("numberAvailable")),
        format_labels(_m(obj, "spec", "template", "spec", "nodeSelector")), _age(obj, now),
        names, images, format_label_selector(_m(obj, "spec", "selector")),
    ]


_STATEFUL_SET_COLUMNS = [
    NAME_COLUMN,
    _col("Ready", "string", "Number of the pod with ready state"),
    AGE_COLUMN,
    _wide("Containers", _CONTAINERS_DOC),
    _wide("Images", _IMAGES_DOC),
]


def _stateful_set_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = _layout_containers(_template_containers(obj))
    ready = _int(_m(obj, "status", "readyReplicas"))
    desired = _int(_m(obj, "spec", "replicas"), 1)
    return [_name(obj), f"{ready}/{desired}", _age(obj, now), names, images]


_DEPLOYMENT_COLUMNS = [
    NAME_COLUMN,
    _col("Ready", "string", "Number of the pod with ready state"),
    _col("Up-to-date", "string", _d("extensions/v1beta1.DeploymentStatus.updatedReplicas")),
    _col("Available", "string", _d("extensions/v1beta1.DeploymentStatus.availableReplicas")),
    AGE_COLUMN,
    _wide("Containers", _CONTAINERS_DOC),
    _wide("Images", _IMAGES_DOC),
    _wide("Selector", _d("extensions/v1beta1.DeploymentSpec.selector")),
]


def _deployment_cells(obj: Obj, now: datetime) -> list[Any]:
    status = obj.get("status") or {}
    names, images = _layout_containers(_template_containers(obj))
    try:
        # Unlike the other workloads, an empty selector prints as "" here, not <none>.
        selector = str(label_selector_from_object(_m(obj, "spec", "selector")))
    except SelectorError:
        selector = "<invalid>"
    ready = _int(status.get("readyReplicas"))
    desired = _int(_m(obj, "spec", "replicas"), 1)
    return [
        _name(obj), f"{ready}/{desired}", _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")), _age(obj, now), names, images, selector,
    ]


_CONTROLLER_REVISION_COLUMNS = [
    NAME_COLUMN,
    _col("Controller", "string", "Controller of the object"),
    _col("Revision", "string", _d("apps/v1beta1.ControllerRevision.revision")),
    AGE_COLUMN,
]


def _controller_revision_cells(obj: Obj, now: datetime) -> list[Any]:
    controller = _NONE
    for ref in _m(obj, "metadata", "ownerReferences") or []:
        if ref.get("controller") is True:
            api_version = str(ref.get("apiVersion") or "")
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            kind = str(ref.get("kind") or "")
            group_kind = f"{kind}.{group}" if group else kind
            name = str(ref.get("name") or "")
            controller = f"{group_kind.lower()}/{name}" if group_kind else name
            break
    return [_name(obj), controller, _int(obj.get("revision")), _age(obj, now)]


# ---- batch/v1 --------------------------------------------------------------------------

_JOB_COLUMNS = [
    NAME_COLUMN,
    _col("Status", "string", "Status of the job."),
    _col("Completions", "string", _d("batch/v1.JobStatus.succeeded")),
    _col("Duration", "string", "Time required to complete the job."),
    AGE_COLUMN,
    _wide("Containers", _CONTAINERS_DOC),
    _wide("Images", _IMAGES_DOC),
    _wide("Selector", _d("batch/v1.JobSpec.selector")),
]


def _job_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_int(spec['completions'])}"
    else:
        parallelism = _int(spec.get("parallelism"))
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 \
            else f"{succeeded}/1"
    start = parse_time(status.get("startTime"))
    finish = parse_time(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration((finish or now) - start)
    conditions = status.get("conditions")
    if _has_condition(conditions, "Complete"):
        state = "Complete"
    elif _has_condition(conditions, "Failed"):
        state = "Failed"
    elif _m(obj, "metadata", "deletionTimestamp") is not None:
        state = "Terminating"
    elif _has_condition(conditions, "Suspended"):
        state = "Suspended"
    elif _has_condition(conditions, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    names, images = _layout_containers(_template_containers(obj))
    return [
        _name(obj), state, completions, duration, _age(obj, now), names, images,
        format_label_selector(spec.get("selector")),
    ]


_CRON_JOB_COLUMNS = [
    NAME_COLUMN,
    _col("Schedule", "string", _d("batch/v1beta1.CronJobSpec.schedule")),
    _col("Timezone", "string", _d("batch/v1beta1.CronJobSpec.timeZone")),
    _col("Suspend", "boolean", _d("batch/v1beta1.CronJobSpec.suspend")),
    _col("Active", "integer", _d("batch/v1beta1.CronJobStatus.active")),
    _col("Last Schedule", "string", _d("batch/v1beta1.CronJobStatus.lastScheduleTime")),
    AGE_COLUMN,
    _wide("Containers", _CONTAINERS_DOC),
    _wide("Images", _IMAGES_DOC),
    _wide("Selector", _d("batch/v1.JobSpec.selector")),
]


def _bool_ptr(value: Any) -> str:
    if value is None:
        return _UNSET
    return "True" if value else "False"


def _cron_job_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    last = status.get("lastScheduleTime")
    job_spec = _m(spec, "jobTemplate", "spec") or {}
    names, images = _layout_containers(_m(job_spec, "template", "spec", "containers"))
    return [
        _name(obj), spec.get("schedule") or "", spec.get("timeZone") or _NONE,
        _bool_ptr(spec.get("suspend")), len(status.get("active") or []),
        since(last, now) if last is not None else _NONE, _age(obj, now), names, images,
        format_label_selector(job_spec.get("selector")),
    ]


# ---- networking, discovery, coordination -----------------------------------------------

_INGRESS_COLUMNS = [
    NAME_COLUMN,
    _col("Class", "string", "The name of the IngressClass resource that should be used for "
         "additional configuration"),
    _col("Hosts", "string", "Hosts that incoming requests are matched against before the "
         "ingress rule"),
    _col("Address", "string", "Address is a list containing ingress points for the "
         "load-balancer"),
    _col("Ports", "string", "Ports of TLS configurations that open"),
    AGE_COLUMN,
]


def _ingress_hosts(rules: Any) -> str:
    rules = rules or []
    listed: list[str] = []
    limit = 3
    more = False
    for rule in rules:
        if len(listed) == limit:
            more = True
        if not more and rule.get("host"):
            listed.append(str(rule["host"]))
    if not listed:
        return "*"
    text = ",".join(listed)
    if more:
        return f"{text} + {len(rules) - limit} more..."
    return text


def _ingress_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    return [
        _name(obj), spec.get("ingressClassName") or _NONE, _ingress_hosts(spec.get("rules")),
        _load_balancer_ingress(_m(obj, "status", "loadBalancer", "ingress")),
        "80, 443" if spec.get("tls") else "80", _age(obj, now),
    ]


_INGRESS_CLASS_COLUMNS = [
    NAME_COLUMN,
    _col("Controller", "string", "Controller that is responsible for handling this class"),
    _col("Parameters", "string", "A reference to a resource with additional parameters"),
    AGE_COLUMN,
]


def _ingress_class_cells(obj: Obj, now: datetime) -> list[Any]:
    params = _m(obj, "spec", "parameters")
    text = _NONE
    if params is not None:
        text = str(params.get("kind") or "")
        if params.get("apiGroup") is not None:
            text += "." + str(params["apiGroup"])
        text += "/" + str(params.get("name") or "")
    return [_name(obj), _m(obj, "spec", "controller") or "", text, _age(obj, now)]


_NETWORK_POLICY_COLUMNS = [
    NAME_COLUMN,
    _col("Pod-Selector", "string", _d("extensions/v1beta1.NetworkPolicySpec.podSelector")),
    AGE_COLUMN,
]


def _network_policy_cells(obj: Obj, now: datetime) -> list[Any]:
    # podSelector is a struct upstream, so a missing one reads as the empty selector.
    selector = _m(obj, "spec", "podSelector") or {}
    return [_name(obj), format_label_selector(selector), _age(obj, now)]


_ENDPOINT_SLICE_COLUMNS = [
    NAME_COLUMN,
    _col("AddressType", "string", _d("discovery/v1beta1.EndpointSlice.addressType")),
    _col("Ports", "string", _d("discovery/v1beta1.EndpointSlice.ports")),
    _col("Endpoints", "string", _d("discovery/v1beta1.EndpointSlice.endpoints")),
    AGE_COLUMN,
]


def _list_with_more(listed: list[str], more: bool, count: int, limit: int) -> str:
    text = ",".join(listed)
    if more:
        return f"{text} + {count - limit} more..."
    return text or _UNSET


def _endpoint_slice_cells(obj: Obj, now: datetime) -> list[Any]:
    limit = 3
    ports: list[str] = []
    more = False
    count = 0
    for port in obj.get("ports") or []:
        if len(ports) < limit:
            if port.get("port") is not None:
                ports.append(str(_int(port["port"])))
            elif port.get("name") is not None:
                ports.append(str(port["name"]))
            else:
                ports.append("*")
        elif len(ports) == limit:
            more = True
        count += 1
    ports_text = _list_with_more(ports, more, count, limit)
    addresses: list[str] = []
    more = False
    count = 0
    for endpoint in obj.get("endpoints") or []:
        for address in endpoint.get("addresses") or []:
            if len(addresses) < limit:
                addresses.append(str(address))
            elif len(addresses) == limit:
                more = True
            count += 1
    return [
        _name(obj), obj.get("addressType") or "", ports_text,
        _list_with_more(addresses, more, count, limit), _age(obj, now),
    ]


_LEASE_COLUMNS = [
    NAME_COLUMN,
    _col("Holder", "string", _d("coordination/v1.LeaseSpec.holderIdentity")),
    AGE_COLUMN,
]


def _lease_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _m(obj, "spec", "holderIdentity") or "", _age(obj, now)]


_LEASE_CANDIDATE_COLUMNS = [
    NAME_COLUMN,
    _col("LeaseName", "string", _d("coordination/v1alpha2.LeaseCandidateSpec.leaseName")),
    # Upstream looks these two up in ObjectMeta's docs, where they do not exist.
    _col("BinaryVersion", "string", ""),
    _col("EmulationVersion", "string", ""),
    AGE_COLUMN,
]


def _lease_candidate_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    return [_name(obj), spec.get("leaseName") or "", spec.get("binaryVersion") or "",
            spec.get("emulationVersion") or "", _age(obj, now)]


_SERVICE_CIDR_COLUMNS = [
    NAME_COLUMN,
    _col("CIDRs", "string", _d("networking/v1beta1.ServiceCIDRSpec.cidrs")),
    AGE_COLUMN,
]


def _service_cidr_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), ",".join(_m(obj, "spec", "cidrs") or []), _age(obj, now)]


_IP_ADDRESS_COLUMNS = [
    NAME_COLUMN,
    _col("ParentRef", "string", _d("networking/v1beta1.IPAddressSpec.parentRef")),
]


def _ip_address_cells(obj: Obj, now: datetime) -> list[Any]:
    # The column list has no Age, but the cells carry one, as upstream's do.
    ref = _m(obj, "spec", "parentRef")
    text = _NONE
    if ref is not None:
        group = ref.get("group") or ""
        resource = ref.get("resource") or ""
        text = (f"{resource}.{group}" if group else resource).lower()
        if ref.get("namespace"):
            text += "/" + str(ref["namespace"])
        text += "/" + str(ref.get("name") or "")
    return [_name(obj), text, _age(obj, now)]


# ---- rbac, certificates, scheduling, policy, autoscaling -------------------------------


def _binding_columns(kind: str) -> list[Column]:
    return [
        NAME_COLUMN,
        _col("Role", "string", _d(f"rbac/v1beta1.{kind}.roleRef")),
        AGE_COLUMN,
        _wide("Users", f"Users in the {kind[0].lower()}{kind[1:]}"),
        _wide("Groups", f"Groups in the {kind[0].lower()}{kind[1:]}"),
        _wide("ServiceAccounts", f"ServiceAccounts in the {kind[0].lower()}{kind[1:]}"),
    ]


def _binding_cells(obj: Obj, now: datetime) -> list[Any]:
    role_ref = obj.get("roleRef") or {}
    users: list[str] = []
    groups: list[str] = []
    accounts: list[str] = []
    for subject in obj.get("subjects") or []:
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace') or ''}/{subject.get('name') or ''}")
        elif kind == "User":
            users.append(str(subject.get("name") or ""))
        elif kind == "Group":
            groups.append(str(subject.get("name") or ""))
    return [
        _name(obj), f"{role_ref.get('kind') or ''}/{role_ref.get('name') or ''}",
        _age(obj, now), ", ".join(users), ", ".join(groups), ", ".join(accounts),
    ]


_CSR_COLUMNS = [
    NAME_COLUMN,
    AGE_COLUMN,
    _col("SignerName", "string",
         _d("certificates/v1beta1.CertificateSigningRequestSpec.signerName")),
    _col("Requestor", "string", _d("certificates/v1beta1.CertificateSigningRequestSpec.request")),
    _col("RequestedDuration", "string",
         _d("certificates/v1beta1.CertificateSigningRequestSpec.expirationSeconds")),
    _col("Condition", "string",
         _d("certificates/v1beta1.CertificateSigningRequestStatus.conditions")),
]


def _csr_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or []}
    state = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        state += ",Failed"
    if status.get("certificate"):
        state += ",Issued"
    expiration = spec.get("expirationSeconds")
    requested = human_duration(timedelta(seconds=_int(expiration))) \
        if expiration is not None else _NONE
    return [_name(obj), _age(obj, now), spec.get("signerName") or _NONE,
            spec.get("username") or "", requested, state]


_CLUSTER_TRUST_BUNDLE_COLUMNS = [
    NAME_COLUMN,
    _col("SignerName", "string", _d("certificates/v1alpha1.ClusterTrustBundleSpec.signerName")),
]


def _cluster_trust_bundle_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _m(obj, "spec", "signerName") or _NONE]


_PRIORITY_CLASS_COLUMNS = [
    NAME_COLUMN,
    _col("Value", "integer", _d("scheduling/v1.PriorityClass.value")),
    _col("Global-Default", "boolean", _d("scheduling/v1.PriorityClass.globalDefault")),
    AGE_COLUMN,
    _col("PreemptionPolicy", "string", _d("scheduling/v1.PriorityClass.preemptionPolicy")),
]


def _priority_class_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _int(obj.get("value")), bool(obj.get("globalDefault")), _age(obj, now),
            obj.get("preemptionPolicy") or ""]


_PDB_COLUMNS = [
    NAME_COLUMN,
    _col("Min Available", "string", "The minimum number of pods that must be available."),
    _col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    _col("Allowed Disruptions", "integer",
         "Calculated number of pods that may be disrupted at this time."),
    AGE_COLUMN,
]


def _int_or_string(value: Any) -> str:
    if value is None:
        return "N/A"
    return str(value)


def _pdb_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    return [_name(obj), _int_or_string(spec.get("minAvailable")),
            _int_or_string(spec.get("maxUnavailable")),
            _int(_m(obj, "status", "disruptionsAllowed")), _age(obj, now)]


_HPA_COLUMNS = [
    NAME_COLUMN,
    _col("Reference", "string", _d("autoscaling/v2.HorizontalPodAutoscalerSpec.scaleTargetRef")),
    _col("Targets", "string", _d("autoscaling/v2.HorizontalPodAutoscalerSpec.metrics")),
    _col("MinPods", "string", _d("autoscaling/v2.HorizontalPodAutoscalerSpec.minReplicas")),
    _col("MaxPods", "string", _d("autoscaling/v2.HorizontalPodAutoscalerSpec.maxReplicas")),
    _col("Replicas", "string",
         _d("autoscaling/v2.HorizontalPodAutoscalerStatus.currentReplicas")),
    AGE_COLUMN,
]


def _quantity_ptr(value: Any) -> str:
    # Quantity.String() on a nil pointer.
    return "<nil>" if value is None else quantity_string(value)


def _hpa_metric(spec: Mapping[str, Any], status: Mapping[str, Any] | None) -> str:
    """One entry of upstream's ``formatHPAMetrics``."""
    kind = spec.get("type")
    field = {"External": "external", "Object": "object", "Pods": "pods",
             "Resource": "resource", "ContainerResource": "containerResource"}.get(str(kind))
    if field is None:
        return "<unknown type>"
    source = spec.get(field) or {}
    target = source.get("target") or {}
    # The status entry's current value is a struct upstream: present whenever the entry is.
    entry = status.get(field) if status else None
    has_status = entry is not None
    current_src: Mapping[str, Any] = (entry.get("current") or {}) if entry is not None else {}
    if field in ("external", "object"):
        if target.get("averageValue") is not None:
            current = "<unknown>"
            if current_src.get("averageValue") is not None:
                current = quantity_string(current_src["averageValue"])
            return f"{current}/{quantity_string(target['averageValue'])} (avg)"
        current = _quantity_ptr(current_src.get("value")) if has_status else "<unknown>"
        return f"{current}/{_quantity_ptr(target.get('value'))}"
    if field == "pods":
        current = _quantity_ptr(current_src.get("averageValue")) if has_status \
            else "<unknown>"
        return f"{current}/{_quantity_ptr(target.get('averageValue'))}"
    name = source.get("name") or ""
    if target.get("averageValue") is not None:
        current = _quantity_ptr(current_src.get("averageValue")) if has_status \
            else "<unknown>"
        return f"{name}: {current}/{quantity_string(target['averageValue'])}"
    current = "<unknown>"
    if current_src.get("averageUtilization") is not None:
        current = f"{_int(current_src['averageUtilization'])}%"
    goal = "<auto>"
    if target.get("averageUtilization") is not None:
        goal = f"{_int(target['averageUtilization'])}%"
    return f"{name}: {current}/{goal}"


def _hpa_metrics(specs: Sequence[Mapping[str, Any]],
                 statuses: Sequence[Mapping[str, Any]]) -> str:
    if not specs:
        return _NONE
    shown = [_hpa_metric(spec, statuses[i] if i < len(statuses) else None)
             for i, spec in enumerate(specs)]
    limit = 2
    if len(shown) > limit:
        return f"{', '.join(shown[:limit])} + {len(shown) - limit} more..."
    return ", ".join(shown)


def _hpa_row(obj: Obj, now: datetime, metrics: Sequence[Mapping[str, Any]],
             current: Sequence[Mapping[str, Any]]) -> list[Any]:
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_replicas = spec.get("minReplicas")
    return [
        _name(obj), f"{ref.get('kind') or ''}/{ref.get('name') or ''}",
        _hpa_metrics(metrics, current),
        str(_int(min_replicas)) if min_replicas is not None else _UNSET,
        _int(spec.get("maxReplicas")), _int(_m(obj, "status", "currentReplicas")),
        _age(obj, now),
    ]


def _hpa_v2_cells(obj: Obj, now: datetime) -> list[Any]:
    return _hpa_row(obj, now, _m(obj, "spec", "metrics") or [],
                    _m(obj, "status", "currentMetrics") or [])


def _hpa_v1_cells(obj: Obj, now: datetime) -> list[Any]:
    # autoscaling/v1 converts its CPU percentages into one Resource metric.
    target = _m(obj, "spec", "targetCPUUtilizationPercentage")
    current = _m(obj, "status", "currentCPUUtilizationPercentage")
    metrics = [] if target is None else [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]
    statuses = [] if current is None else [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": current}}}]
    return _hpa_row(obj, now, metrics, statuses)


_SCALE_COLUMNS = [
    Column("Name", "string", NAME_DOC),  # upstream gives this Name column no format
    _col("Desired", "integer", _d("autoscaling/v1.ScaleSpec.replicas")),
    _col("Available", "integer", _d("autoscaling/v1.ScaleStatus.replicas")),
    AGE_COLUMN,
]


def _scale_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _int(_m(obj, "spec", "replicas")), _int(_m(obj, "status", "replicas")),
            _age(obj, now)]


# ---- storage, node, admission, flowcontrol, resource -----------------------------------

_STORAGE_CLASS_COLUMNS = [
    NAME_COLUMN,
    _col("Provisioner", "string", _d("storage/v1.StorageClass.provisioner")),
    _col("ReclaimPolicy", "string", _d("storage/v1.StorageClass.reclaimPolicy")),
    _col("VolumeBindingMode", "string", _d("storage/v1.StorageClass.volumeBindingMode")),
    _col("AllowVolumeExpansion", "string", _d("storage/v1.StorageClass.allowVolumeExpansion")),
    AGE_COLUMN,
]
_DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                              "storageclass.beta.kubernetes.io/is-default-class")


def _storage_class_cells(obj: Obj, now: datetime) -> list[Any]:
    annotations = _m(obj, "metadata", "annotations") or {}
    name = _name(obj)
    if any(annotations.get(key) == "true" for key in _DEFAULT_CLASS_ANNOTATIONS):
        name += " (default)"
    return [name, obj.get("provisioner") or "", obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion")),
            _age(obj, now)]


_VOLUME_ATTRIBUTES_CLASS_COLUMNS = [
    NAME_COLUMN,
    _col("DriverName", "string", _d("storage/v1beta1.VolumeAttributesClass.driverName")),
    AGE_COLUMN,
]


def _volume_attributes_class_cells(obj: Obj, now: datetime) -> list[Any]:
    annotations = _m(obj, "metadata", "annotations") or {}
    name = _name(obj)
    if annotations.get("storage.kubernetes.io/is-default-class") == "true":
        name += " (default)"
    return [name, obj.get("driverName") or "", _age(obj, now)]


_CSI_DRIVER_COLUMNS = [
    NAME_COLUMN,
    _col("AttachRequired", "boolean", _d("storage/v1.CSIDriverSpec.attachRequired")),
    _col("PodInfoOnMount", "boolean", _d("storage/v1.CSIDriverSpec.podInfoOnMount")),
    _col("StorageCapacity", "boolean", _d("storage/v1.CSIDriverSpec.storageCapacity")),
    _col("TokenRequests", "string", _d("storage/v1.CSIDriverSpec.tokenRequests")),
    _col("RequiresRepublish", "boolean", _d("storage/v1.CSIDriverSpec.requiresRepublish")),
    _col("Modes", "string", _d("storage/v1.CSIDriverSpec.volumeLifecycleModes")),
    AGE_COLUMN,
]


def _csi_driver_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    attach = spec.get("attachRequired")
    tokens = spec.get("tokenRequests")
    token_text = _UNSET if tokens is None else ",".join(str(t.get("audience") or "")
                                                        for t in tokens)
    modes = ",".join(spec.get("volumeLifecycleModes") or []) or _NONE
    return [_name(obj), True if attach is None else bool(attach),
            bool(spec.get("podInfoOnMount")), bool(spec.get("storageCapacity")), token_text,
            bool(spec.get("requiresRepublish")), modes, _age(obj, now)]


_CSI_NODE_COLUMNS = [
    NAME_COLUMN,
    _col("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the "
         "node"),
    AGE_COLUMN,
]


def _csi_node_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), len(_m(obj, "spec", "drivers") or []), _age(obj, now)]


_CSI_STORAGE_CAPACITY_COLUMNS = [
    NAME_COLUMN,
    _col("StorageClassName", "string", _d("storage/v1.CSIStorageCapacity.storageClassName")),
    _col("Capacity", "string", _d("storage/v1.CSIStorageCapacity.capacity")),
]


def _csi_storage_capacity_cells(obj: Obj, now: datetime) -> list[Any]:
    capacity = obj.get("capacity")
    return [_name(obj), obj.get("storageClassName") or "",
            _UNSET if capacity is None else quantity_string(capacity)]


_VOLUME_ATTACHMENT_COLUMNS = [
    NAME_COLUMN,
    _col("Attacher", "string", _d("storage/v1.VolumeAttachmentSpec.attacher"), 0, "name"),
    _col("PV", "string", _d("storage/v1.VolumeAttachmentSource.persistentVolumeName")),
    _col("Node", "string", _d("storage/v1.VolumeAttachmentSpec.nodeName")),
    _col("Attached", "boolean", _d("storage/v1.VolumeAttachmentStatus.attached")),
    AGE_COLUMN,
]


def _volume_attachment_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    return [_name(obj), spec.get("attacher") or "",
            _m(spec, "source", "persistentVolumeName") or "", spec.get("nodeName") or "",
            bool(_m(obj, "status", "attached")), _age(obj, now)]


_RUNTIME_CLASS_COLUMNS = [
    NAME_COLUMN,
    _col("Handler", "string", ""),  # upstream asks ObjectMeta's docs, which have no "handler"
    AGE_COLUMN,
]


def _runtime_class_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), obj.get("handler") or "", _age(obj, now)]


_WEBHOOK_COLUMNS = [
    NAME_COLUMN,
    _col("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this "
         "configuration"),
    AGE_COLUMN,
]


def _webhook_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), len(obj.get("webhooks") or []), _age(obj, now)]


def _admission_policy_columns(count_name: str, count_doc: str) -> list[Column]:
    return [
        NAME_COLUMN,
        _col(count_name, "integer", count_doc),
        _col("ParamKind", "string", "ParamKind specifies the kind of resources used to "
             "parameterize this policy"),
        AGE_COLUMN,
    ]


def _admission_policy_cells(field: str) -> CellsFn:
    def cells(obj: Obj, now: datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        param = spec.get("paramKind")
        param_text = _UNSET if param is None else \
            f"{param.get('apiVersion') or ''}/{param.get('kind') or ''}"
        return [_name(obj), len(spec.get(field) or []), param_text, _age(obj, now)]

    return cells


_POLICY_BINDING_COLUMNS = [
    NAME_COLUMN,
    _col("PolicyName", "string", "PolicyName indicates the policy definition which the policy "
         "binding binded to"),
    _col("ParamRef", "string", "ParamRef indicates the param resource which sets the "
         "configration param"),
    AGE_COLUMN,
]


def _policy_binding_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    ref = spec.get("paramRef")
    text = _UNSET
    if ref is not None:
        if ref.get("name"):
            # Without a namespace the param may be cluster-scoped or in any namespace.
            text = f"{ref.get('namespace') or '*'}/{ref['name']}"
        elif ref.get("selector") is not None:
            text = _label_selector_string(ref["selector"])
    return [_name(obj), spec.get("policyName") or "", text, _age(obj, now)]


def _label_selector_string(selector: Mapping[str, Any]) -> str:
    """The Go ``(*metav1.LabelSelector).String()`` a binding's ``paramRef.selector`` prints as."""
    labels = selector.get("matchLabels") or {}
    label_text = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    expressions = "".join(
        f"LabelSelectorRequirement{{Key:{expr.get('key') or ''},"
        f"Operator:{expr.get('operator') or ''},"
        f"Values:[{' '.join(str(v) for v in expr.get('values') or [])}],}},"
        for expr in selector.get("matchExpressions") or [])
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{label_text}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}")


_FLOW_SCHEMA_COLUMNS = [
    NAME_COLUMN,
    _col("PriorityLevel", "string",
         _d("flowcontrol/v1.PriorityLevelConfigurationReference.name")),
    _col("MatchingPrecedence", "string", _d("flowcontrol/v1.FlowSchemaSpec.matchingPrecedence")),
    _col("DistinguisherMethod", "string",
         _d("flowcontrol/v1.FlowSchemaSpec.distinguisherMethod")),
    AGE_COLUMN,
    _col("MissingPL", "string", "references a broken or non-existent "
         "PriorityLevelConfiguration"),
]


def _flow_schema_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    method = _m(spec, "distinguisherMethod", "type")
    missing = "?"
    for condition in _m(obj, "status", "conditions") or []:
        if condition.get("type") == "Dangling":
            missing = str(condition.get("status") or "")
            break
    return [_name(obj), _m(spec, "priorityLevelConfiguration", "name") or "",
            _int(spec.get("matchingPrecedence")),
            method if _m(spec, "distinguisherMethod") is not None else _NONE,
            _age(obj, now), missing]


def _flow_schema_order(objects: Sequence[Obj]) -> list[Obj]:
    # FlowSchemaSequence: by matchingPrecedence, then name.
    return sorted(objects, key=lambda o: (_int(_m(o, "spec", "matchingPrecedence")), _name(o)))


_PRIORITY_LEVEL_COLUMNS = [
    NAME_COLUMN,
    _col("Type", "string", _d("flowcontrol/v1.PriorityLevelConfigurationSpec.type")),
    _col("NominalConcurrencyShares", "string",
         _d("flowcontrol/v1.LimitedPriorityLevelConfiguration.nominalConcurrencyShares")),
    _col("Queues", "string", _d("flowcontrol/v1.QueuingConfiguration.queues")),
    _col("HandSize", "string", _d("flowcontrol/v1.QueuingConfiguration.handSize")),
    _col("QueueLengthLimit", "string", _d("flowcontrol/v1.QueuingConfiguration.queueLengthLimit")),
    AGE_COLUMN,
]


def _priority_level_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    shares: Any = _NONE
    queues: Any = _NONE
    hand_size: Any = _NONE
    queue_limit: Any = _NONE
    limited = spec.get("limited")
    if limited is not None:
        shares = _int(limited.get("nominalConcurrencyShares"))
        queuing = _m(limited, "limitResponse", "queuing")
        if queuing is not None:
            queues = _int(queuing.get("queues"))
            hand_size = _int(queuing.get("handSize"))
            queue_limit = _int(queuing.get("queueLengthLimit"))
    return [_name(obj), spec.get("type") or "", shares, queues, hand_size, queue_limit,
            _age(obj, now)]


_DEVICE_CLASS_COLUMNS = [NAME_COLUMN, AGE_COLUMN]


def _name_age_cells(obj: Obj, now: datetime) -> list[Any]:
    return [_name(obj), _age(obj, now)]


_RESOURCE_CLAIM_COLUMNS = [
    NAME_COLUMN,
    _col("State", "string", "A summary of the current state (allocated, pending, reserved, "
         "etc.)."),
    AGE_COLUMN,
]


def _resource_claim_cells(obj: Obj, now: datetime) -> list[Any]:
    states = []
    deleting = _m(obj, "metadata", "deletionTimestamp") is not None
    if deleting:
        states.append("deleted")
    if _m(obj, "status", "allocation") is None:
        if not deleting:
            states.append("pending")
    else:
        states.append("allocated")
        if _m(obj, "status", "reservedFor"):
            states.append("reserved")
    return [_name(obj), ",".join(states), _age(obj, now)]


_RESOURCE_SLICE_COLUMNS = [
    NAME_COLUMN,
    _col("Node", "string", _d("resource/v1beta1.ResourceSliceSpec.nodeName")),
    _col("Driver", "string", _d("resource/v1beta1.ResourceSliceSpec.driver")),
    _col("Pool", "string", _d("resource/v1beta1.ResourcePool.name")),
    AGE_COLUMN,
]


def _resource_slice_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    return [_name(obj), spec.get("nodeName") or "", spec.get("driver") or "",
            _m(spec, "pool", "name") or "", _age(obj, now)]


# ---- registry --------------------------------------------------------------------------


_HPA_V2: Final = TablePrinter(_HPA_COLUMNS, _hpa_v2_cells)
_CORE_EVENT: Final = TablePrinter(_EVENT_COLUMNS, _core_event_cells)

# (group, kind) -> printer. Kinds upstream serves with the default convertor (Role,
# ClusterRole, LimitRange, CustomResourceDefinition, APIService...) are left out on purpose.
_PRINTERS: Final[dict[tuple[str, str], TablePrinter]] = {
    ("", "Pod"): TablePrinter(_POD_COLUMNS, _pod_cells, conditions=_pod_conditions),
    ("", "PodTemplate"): TablePrinter(_POD_TEMPLATE_COLUMNS, _pod_template_cells),
    ("", "ReplicationController"): TablePrinter(_RC_COLUMNS, _rc_cells),
    ("", "Service"): TablePrinter(_SERVICE_COLUMNS, _service_cells),
    ("", "Endpoints"): TablePrinter(_ENDPOINTS_COLUMNS, _endpoints_cells),
    ("", "Node"): TablePrinter(_NODE_COLUMNS, _node_cells),
    ("", "Event"): _CORE_EVENT,
    ("", "Namespace"): TablePrinter(_NAMESPACE_COLUMNS, _namespace_cells),
    ("", "Secret"): TablePrinter(_SECRET_COLUMNS, _secret_cells),
    ("", "ServiceAccount"): TablePrinter(_SERVICE_ACCOUNT_COLUMNS, _service_account_cells),
    ("", "PersistentVolume"): TablePrinter(_PV_COLUMNS, _pv_cells),
    ("", "PersistentVolumeClaim"): TablePrinter(_PVC_COLUMNS, _pvc_cells),
    ("", "ComponentStatus"): TablePrinter(_COMPONENT_STATUS_COLUMNS, _component_status_cells),
    ("", "ConfigMap"): TablePrinter(_CONFIG_MAP_COLUMNS, _config_map_cells),
    ("", "ResourceQuota"): TablePrinter(_RESOURCE_QUOTA_COLUMNS, _resource_quota_cells),
    ("apps", "ReplicaSet"): TablePrinter(_RS_COLUMNS, _rs_cells),
    ("apps", "DaemonSet"): TablePrinter(_DAEMON_SET_COLUMNS, _daemon_set_cells),
    ("apps", "StatefulSet"): TablePrinter(_STATEFUL_SET_COLUMNS, _stateful_set_cells),
    ("apps", "Deployment"): TablePrinter(_DEPLOYMENT_COLUMNS, _deployment_cells),
    ("apps", "ControllerRevision"): TablePrinter(_CONTROLLER_REVISION_COLUMNS,
                                             _controller_revision_cells),
    ("batch", "Job"): TablePrinter(_JOB_COLUMNS, _job_cells),
    ("batch", "CronJob"): TablePrinter(_CRON_JOB_COLUMNS, _cron_job_cells),
    ("networking.k8s.io", "Ingress"): TablePrinter(_INGRESS_COLUMNS, _ingress_cells),
    ("networking.k8s.io", "IngressClass"): TablePrinter(_INGRESS_CLASS_COLUMNS,
                                                    _ingress_class_cells),
    ("networking.k8s.io", "NetworkPolicy"): TablePrinter(_NETWORK_POLICY_COLUMNS,
                                                     _network_policy_cells),
    ("networking.k8s.io", "ServiceCIDR"): TablePrinter(_SERVICE_CIDR_COLUMNS, _service_cidr_cells),
    ("networking.k8s.io", "IPAddress"): TablePrinter(_IP_ADDRESS_COLUMNS, _ip_address_cells),
    ("discovery.k8s.io", "EndpointSlice"): TablePrinter(_ENDPOINT_SLICE_COLUMNS,
                                                    _endpoint_slice_cells),
    ("coordination.k8s.io", "Lease"): TablePrinter(_LEASE_COLUMNS, _lease_cells),
    ("coordination.k8s.io", "LeaseCandidate"): TablePrinter(_LEASE_CANDIDATE_COLUMNS,
                                                        _lease_candidate_cells),
    ("events.k8s.io", "Event"): TablePrinter(_EVENT_COLUMNS, _events_v1_cells),
    ("rbac.authorization.k8s.io", "RoleBinding"): TablePrinter(_binding_columns("RoleBinding"),
                                                           _binding_cells),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): TablePrinter(
        _binding_columns("ClusterRoleBinding"), _binding_cells),
    ("certificates.k8s.io", "CertificateSigningRequest"): TablePrinter(_CSR_COLUMNS, _csr_cells),
    ("certificates.k8s.io", "ClusterTrustBundle"): TablePrinter(_CLUSTER_TRUST_BUNDLE_COLUMNS,
                                                            _cluster_trust_bundle_cells),
    ("scheduling.k8s.io", "PriorityClass"): TablePrinter(_PRIORITY_CLASS_COLUMNS,
                                                     _priority_class_cells),
    ("policy", "PodDisruptionBudget"): TablePrinter(_PDB_COLUMNS, _pdb_cells),
    ("autoscaling", "HorizontalPodAutoscaler"): _HPA_V2,
    ("autoscaling", "Scale"): TablePrinter(_SCALE_COLUMNS, _scale_cells),
    ("storage.k8s.io", "StorageClass"): TablePrinter(_STORAGE_CLASS_COLUMNS, _storage_class_cells),
    ("storage.k8s.io", "VolumeAttributesClass"): TablePrinter(_VOLUME_ATTRIBUTES_CLASS_COLUMNS,
                                                          _volume_attributes_class_cells),
    ("storage.k8s.io", "CSIDriver"): TablePrinter(_CSI_DRIVER_COLUMNS, _csi_driver_cells),
    ("storage.k8s.io", "CSINode"): TablePrinter(_CSI_NODE_COLUMNS, _csi_node_cells),
    ("storage.k8s.io", "CSIStorageCapacity"): TablePrinter(_CSI_STORAGE_CAPACITY_COLUMNS,
                                                       _csi_storage_capacity_cells),
    ("storage.k8s.io", "VolumeAttachment"): TablePrinter(_VOLUME_ATTACHMENT_COLUMNS,
                                                     _volume_attachment_cells),
    ("node.k8s.io", "RuntimeClass"): TablePrinter(_RUNTIME_CLASS_COLUMNS, _runtime_class_cells),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): TablePrinter(
        _WEBHOOK_COLUMNS, _webhook_cells),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): TablePrinter(
        _WEBHOOK_COLUMNS, _webhook_cells),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): TablePrinter(
        _admission_policy_columns("Validations", "Validations indicates the number of "
                                  "validation rules defined in this configuration"),
        _admission_policy_cells("validations")),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"): TablePrinter(
        _admission_policy_columns("Mutations", "Mutation indicates the number of mutations "
                                  "rules defined in this configuration"),
        _admission_policy_cells("mutations")),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): TablePrinter(
        _POLICY_BINDING_COLUMNS, _policy_binding_cells),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"): TablePrinter(
        _POLICY_BINDING_COLUMNS, _policy_binding_cells),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): TablePrinter(
        _FLOW_SCHEMA_COLUMNS, _flow_schema_cells, order=_flow_schema_order),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): TablePrinter(
        _PRIORITY_LEVEL_COLUMNS, _priority_level_cells),
    ("resource.k8s.io", "DeviceClass"): TablePrinter(_DEVICE_CLASS_COLUMNS, _name_age_cells),
    ("resource.k8s.io", "ResourceClaim"): TablePrinter(_RESOURCE_CLAIM_COLUMNS,
                                                   _resource_claim_cells),
    ("resource.k8s.io", "ResourceClaimTemplate"): TablePrinter(_DEVICE_CLASS_COLUMNS,
                                                           _name_age_cells),
    ("resource.k8s.io", "ResourceSlice"): TablePrinter(_RESOURCE_SLICE_COLUMNS,
                                                   _resource_slice_cells),
}
_VERSIONED: Final[dict[tuple[str, str, str], TablePrinter]] = {
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): TablePrinter(_HPA_COLUMNS, _hpa_v1_cells),
}


def table_for(group: str, version: str, kind: str) -> TablePrinter:
    """The printer kube-apiserver uses for a built-in kind, or the default Name/Created At
    printer for kinds that have none (Roles, LimitRanges, CRDs, anything unknown).

    Custom resources use :func:`kubesmith.api.tables.crd_columns` instead.
    """
    return _VERSIONED.get((group, version, kind)) or _PRINTERS.get((group, kind)) \
        or DEFAULT_PRINTER

