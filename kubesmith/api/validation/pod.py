"""Pod, PodSpec, PodTemplateSpec and PodTemplate validation.

A faithful port of the pod half of ``pkg/apis/core/validation/validation.go`` (v1.34 with
its default feature gates): volumes (one source each, DNS-label names, unique), containers
(names, images, ports, env, mounts, probes, lifecycle, resources, security context), init,
sidecar and ephemeral containers, scheduling fields (affinity, tolerations, topology
spread), DNS, security context, and the update rules (only images, activeDeadlineSeconds,
added tolerations and removed scheduling gates may change).

Validation runs on the *defaulted* object, exactly like upstream: a pod without
``restartPolicy`` fails here only if the defaulter has not run.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesmith.api.errors import (
    FieldError,
    duplicate,
    field_forbidden,
    field_not_found,
    invalid,
    not_supported,
    required,
    too_long,
)
from kubesmith.api.validation._fields import (
    as_list,
    as_map,
    as_maps,
    get_int,
    get_int0,
    get_list,
    get_map,
    get_maps,
    get_str,
    get_strs,
    has,
    int_or_string,
    invalid_each,
    key_path,
    nonnegative,
    positive,
    quantity,
    str_map,
)
from kubesmith.api.validation.meta import (
    label_selector_matches,
    validate_annotations,
    validate_label_name,
    validate_label_selector,
    validate_label_selector_requirement,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
    validate_template_object_meta,
)
from kubesmith.api.validation.names import (
    inclusive_range_error,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_dns1123_subdomain_with_underscore,
    is_http_header_name,
    is_label_value,
    is_qualified_name,
    is_relaxed_env_var_name,
    is_valid_group_id,
    is_valid_port_name,
    is_valid_port_num,
    is_valid_user_id,
    name_is_dns_subdomain,
    validate_namespace_name,
)
from kubesmith.api.validation.netutil import is_dual_stack, validate_ip
from kubesmith.api.validation.resources import validate_resource_requirements

MAX_INT32 = 2**31 - 1
FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
PD_PARTITION_ERROR = inclusive_range_error(1, 255)
MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048
SYSCTL_MAX_LENGTH = 253
_SYSCTL_RE = re.compile(
    r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
)
_SYSCTL_RE_TEXT = (
    "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"
)

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
POD_DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_CONTAINER_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"

PROTOCOLS = ["SCTP", "TCP", "UDP"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",
                   "FileOrCreate", "Socket"]
MOUNT_PROPAGATIONS = ["Bidirectional", "HostToContainer", "None"]
RECURSIVE_READ_ONLY = ["Disabled", "Enabled", "IfPossible"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]

_ENV_FIELD_PATHS = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                    "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
                    "status.podIP", "status.podIPs"]
_VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name",
                       "metadata.namespace", "metadata.uid"]
_DOWNWARD_LABELS = frozenset({
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
    "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
    "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs", "status.podIP",
    "status.podIPs",
})
_RESOURCE_FIELD_PATHS = ["limits.cpu", "limits.ephemeral-storage", "limits.memory",
                         "requests.cpu", "requests.ephemeral-storage", "requests.memory"]
_MEMORY_DIVISORS = frozenset({"1", "1k", "1M", "1G", "1T", "1P", "1E",
                              "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"})

# Container fields in Go struct order, so "forbidden" errors come out in upstream's order.
_CONTAINER_FIELDS = (
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "restartPolicyRules", "volumeMounts", "volumeDevices",
    "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce",
    "tty",
)
_EPHEMERAL_ALLOWED = frozenset({
    "name", "image", "command", "args", "workingDir", "envFrom", "env", "volumeMounts",
    "volumeDevices", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy",
    "securityContext", "stdin", "stdinOnce", "tty",
})

UPDATABLE_POD_SPEC_FIELDS = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
    "negative)",
]


@dataclass(frozen=True, slots=True)
class PodOptions:
    """The switches upstream passes as ``PodValidationOptions`` that matter here.

    ``resource_is_pod`` is True when validating a Pod (not a template): a few checks (image
    volume references, hostNetwork ports) are stricter for real pods.
    """

    resource_is_pod: bool = False
    allow_invalid_label_value_in_selector: bool = False
    allow_invalid_pod_deletion_cost: bool = False


# ---------------------------------------------------------------------------- helpers


def _zero(value: Any) -> bool:
    """Go's zero value test for a decoded JSON field."""
    return value is None or value is False or value == 0 or value in ("", [], {})


def _file_mode(value: int | None, path: str) -> list[FieldError]:
    if value is not None and (value > 0o777 or value < 0):
        return [invalid(path, value, FILE_MODE_ERROR)]
    return []


def validate_path_no_backsteps(target: str, path: str) -> list[FieldError]:
    """No ``..`` path element."""
    if ".." in target.replace("\\", "/").split("/"):
        return [invalid(path, target, "must not contain '..'")]
    return []


def validate_local_descending_path(target: str, path: str) -> list[FieldError]:
    """Relative, without backsteps."""
    errs: list[FieldError] = []
    if posixpath.isabs(target):
        errs.append(invalid(path, target, "must be a relative path"))
    errs += validate_path_no_backsteps(target, path)
    return errs


def validate_local_non_reserved_path(target: str, path: str) -> list[FieldError]:
    """Relative, without backsteps, not starting with ``..``."""
    errs = validate_local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid(path, target, "must not start with '..'"))
    return errs


def validate_dns1123_label(value: str, path: str) -> list[FieldError]:
    """Invalid errors for a non-DNS-label value."""
    return invalid_each(path, value, is_dns1123_label(value))


def validate_dns1123_subdomain(value: str, path: str) -> list[FieldError]:
    """Invalid errors for a non-DNS-subdomain value."""
    return invalid_each(path, value, is_dns1123_subdomain(value))


def validate_port_num_or_name(port: Any, path: str) -> list[FieldError]:
    """An IntOrString port: 1-65535, or an IANA service name."""
    value = int_or_string(port)
    if isinstance(value, int):
        return invalid_each(path, value, is_valid_port_num(value))
    if isinstance(value, str):
        return invalid_each(path, value, is_valid_port_name(value))
    return invalid_each(path, 0, is_valid_port_num(0))


# ---------------------------------------------------------------------------- volumes

SourceCheck = Callable[[dict[str, Any], str], list[FieldError]]


def _key_to_path(item: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(item, "key"):
        errs.append(required(f"{path}.key", ""))
    target = get_str(item, "path")
    if not target:
        errs.append(required(f"{path}.path", ""))
    errs += validate_local_non_reserved_path(target, f"{path}.path")
    errs += _file_mode(get_int(item, "mode"), f"{path}.mode")
    return errs


def _secret_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(src, "secretName"):
        errs.append(required(f"{path}.secretName", ""))
    errs += _file_mode(get_int(src, "defaultMode"), f"{path}.defaultMode")
    for i, item in enumerate(get_maps(src, "items")):
        errs += _key_to_path(item, f"{path}.items[{i}]")
    return errs


def _config_map_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(src, "name"):
        errs.append(required(f"{path}.name", ""))
    errs += _file_mode(get_int(src, "defaultMode"), f"{path}.defaultMode")
    for i, item in enumerate(get_maps(src, "items")):
        errs += _key_to_path(item, f"{path}.items[{i}]")
    return errs


def _host_path_source(src: dict[str, Any], path: str) -> list[FieldError]:
    target = get_str(src, "path")
    if not target:
        return [required(f"{path}.path", "")]
    errs = validate_path_no_backsteps(target, f"{path}.path")
    if has(src, "type") and get_str(src, "type") not in HOST_PATH_TYPES:
        errs.append(not_supported(f"{path}.type", src.get("type"), HOST_PATH_TYPES))
    return errs


def _empty_dir_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if has(src, "sizeLimit"):
        limit = quantity(src.get("sizeLimit"), f"{path}.sizeLimit", errs)
        if limit is not None and limit.sign() < 0:
            errs.append(field_forbidden(f"{path}.sizeLimit",
                                        "SizeLimit field must be a valid resource quantity"))
    return errs


def _nfs_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(src, "server"):
        errs.append(required(f"{path}.server", ""))
    target = get_str(src, "path")
    if not target:
        errs.append(required(f"{path}.path", ""))
    if not posixpath.isabs(target):
        errs.append(invalid(f"{path}.path", target, "must be an absolute path"))
    return errs


def _pvc_source(src: dict[str, Any], path: str) -> list[FieldError]:
    if not get_str(src, "claimName"):
        return [required(f"{path}.claimName", "")]
    return []


def _git_repo_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(src, "repository"):
        errs.append(required(f"{path}.repository", ""))
    errs += validate_local_descending_path(get_str(src, "directory"), f"{path}.directory")
    return errs


def _partition_disk(id_key: str) -> SourceCheck:
    def check(src: dict[str, Any], path: str) -> list[FieldError]:
        errs: list[FieldError] = []
        if not get_str(src, id_key):
            errs.append(required(f"{path}.{id_key}", ""))
        partition = get_int0(src, "partition")
        if partition < 0 or partition > 255:
            errs.append(invalid(f"{path}.partition", partition, PD_PARTITION_ERROR))
        return errs
    return check


def _requires(*keys: str) -> SourceCheck:
    """A validator that only checks required string (or list) fields."""
    def check(src: dict[str, Any], path: str) -> list[FieldError]:
        return [required(f"{path}.{key}", "") for key in keys if _zero(src.get(key))]
    return check


def _iscsi_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(src, "targetPortal"):
        errs.append(required(f"{path}.targetPortal", ""))
    iqn = get_str(src, "iqn")
    if not iqn:
        errs.append(required(f"{path}.iqn", ""))
    elif not iqn.startswith(("iqn", "eui", "naa")):
        errs.append(invalid(f"{path}.iqn", iqn,
                            "must be valid format starting with iqn, eui, or naa"))
    elif not _iscsi_name_ok(iqn):
        errs.append(invalid(f"{path}.iqn", iqn, "must be valid format"))
    lun = get_int0(src, "lun")
    if lun < 0 or lun > 255:
        errs.append(invalid(f"{path}.lun", lun, inclusive_range_error(0, 255)))
    if (src.get("chapAuthDiscovery") is True or src.get("chapAuthSession") is True) \
            and not has(src, "secretRef"):
        errs.append(required(f"{path}.secretRef", ""))
    if has(src, "initiatorName"):
        initiator = get_str(src, "initiatorName")
        if not initiator.startswith(("iqn", "eui", "naa")):
            errs.append(invalid(f"{path}.initiatorname", initiator,
                                "must be valid format starting with iqn, eui, or naa"))
        elif not _iscsi_name_ok(initiator):
            errs.append(invalid(f"{path}.initiatorname", initiator, "must be valid format"))
    return errs


_IQN_RE = re.compile(r"iqn\.\d{4}-\d{2}\.([A-Za-z0-9\-.]+)(:[^,;*&$|\s]+)$")
_EUI_RE = re.compile(r"^eui.[A-Za-z0-9]{16}$")
_NAA_RE = re.compile(r"^naa.[A-Za-z0-9]{32}$")


def iscsi_name_error(name: str) -> bool:
    """True when an iSCSI qualified name is malformed (wrong prefix or shape)."""
    return not name.startswith(("iqn", "eui", "naa")) or not _iscsi_name_ok(name)


def _iscsi_name_ok(name: str) -> bool:
    if name.startswith("iqn"):
        return bool(_IQN_RE.search(name))
    if name.startswith("eui"):
        return bool(_EUI_RE.search(name))
    return bool(_NAA_RE.search(name))


def _fc_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    wwns, wwids = get_list(src, "targetWWNs"), get_list(src, "wwids")
    if not wwns and not wwids:
        errs.append(required(f"{path}.targetWWNs",
                             "must specify either targetWWNs or wwids, but not both"))
    if wwns and wwids:
        errs.append(invalid(f"{path}.targetWWNs", wwns,
                            "targetWWNs and wwids can not be specified simultaneously"))
    if wwns:
        lun = get_int(src, "lun")
        if lun is None:
            errs.append(required(f"{path}.lun", "lun is required if targetWWNs is specified"))
        elif lun < 0 or lun > 255:
            errs.append(invalid(f"{path}.lun", lun, inclusive_range_error(0, 255)))
    return errs


def _flex_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(src, "driver"):
        errs.append(required(f"{path}.driver", ""))
    for key in sorted(get_map(src, "options")):
        namespace = key.split("/", 1)[0] if "/" in key else key
        normalized = "." + namespace.lower()
        if normalized.endswith((".kubernetes.io", ".k8s.io")):
            errs.append(invalid(key_path(f"{path}.options", key), key,
                                "kubernetes.io and k8s.io namespaces are reserved"))
    return errs


def _azure_disk_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(src, "diskName"):
        errs.append(required(f"{path}.diskName", ""))
    uri = get_str(src, "diskURI")
    if not uri:
        errs.append(required(f"{path}.diskURI", ""))
    caching = src.get("cachingMode")
    if caching is not None and caching not in ("None", "ReadOnly", "ReadWrite"):
        errs.append(not_supported(f"{path}.cachingMode", caching,
                                  ["None", "ReadOnly", "ReadWrite"]))
    kind = src.get("kind")
    if kind is not None and kind not in ("Dedicated", "Managed", "Shared"):
        errs.append(not_supported(f"{path}.kind", kind, ["Dedicated", "Managed", "Shared"]))
    if kind == "Managed" and not uri.startswith("/subscriptions/"):
        errs.append(not_supported(f"{path}.diskURI", uri, [
            "/subscriptions/{sub-id}/resourcegroups/{group-name}/providers/microsoft.compute"
            "/disks/{disk-id}"]))
    if kind is not None and kind != "Managed" and not uri.startswith("https://"):
        errs.append(not_supported(f"{path}.diskURI", uri, [
            "https://{account-name}.blob.core.windows.net/{container-name}/{disk-name}.vhd"]))
    return errs


def _storageos_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = get_str(src, "volumeName")
    if not name:
        errs.append(required(f"{path}.volumeName", ""))
    else:
        errs += validate_dns1123_label(name, f"{path}.volumeName")
    namespace = get_str(src, "volumeNamespace")
    if namespace:
        errs += validate_dns1123_label(namespace, f"{path}.volumeNamespace")
    if has(src, "secretRef") and not get_str(get_map(src, "secretRef"), "name"):
        errs.append(required(f"{path}.secretRef.name", ""))
    return errs


def _secret_ref_name(src: dict[str, Any], path: str) -> list[FieldError]:
    if has(src, "secretRef") and not get_str(get_map(src, "secretRef"), "name"):
        return [required(f"{path}.secretRef.name", "")]
    return []


def _cinder_source(src: dict[str, Any], path: str) -> list[FieldError]:
    return _requires("volumeID")(src, path) + _secret_ref_name(src, path)


def validate_csi_driver_name(driver: str, path: str) -> list[FieldError]:
    """A CSI driver name: a DNS subdomain (case-insensitive) of at most 63 characters."""
    errs: list[FieldError] = []
    if not driver:
        errs.append(required(path, ""))
    if len(driver) > 63:
        errs.append(too_long(path, "", 63))
    errs += invalid_each(path, driver, is_dns1123_subdomain(driver.lower()))
    return errs


def _csi_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs = validate_csi_driver_name(get_str(src, "driver"), f"{path}.driver")
    if has(src, "nodePublishSecretRef"):
        name = get_str(get_map(src, "nodePublishSecretRef"), "name")
        if not name:
            errs.append(required(f"{path}.nodePublishSecretRef.name", ""))
        else:
            errs += invalid_each(f"{path}.name", name, name_is_dns_subdomain(name, False))
    return errs


def _downward_api_file(item: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    target = get_str(item, "path")
    if not target:
        errs.append(required(f"{path}.path", ""))
    errs += validate_local_non_reserved_path(target, f"{path}.path")
    if has(item, "fieldRef"):
        errs += validate_object_field_selector(get_map(item, "fieldRef"), _VOLUME_FIELD_PATHS,
                                               f"{path}.fieldRef")
        if has(item, "resourceFieldRef"):
            errs.append(invalid(path, "resource",
                                "fieldRef and resourceFieldRef can not be specified "
                                "simultaneously"))
    elif has(item, "resourceFieldRef"):
        errs += _resource_field_selector(get_map(item, "resourceFieldRef"),
                                         f"{path}.resourceFieldRef", volume=True)
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    errs += _file_mode(get_int(item, "mode"), f"{path}.mode")
    return errs


def _downward_api_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs = _file_mode(get_int(src, "defaultMode"), f"{path}.defaultMode")
    for item in get_maps(src, "items"):
        # Upstream reports item errors on the source path itself, without an index.
        errs += _downward_api_file(item, path)
    return errs


def _projected_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs = _file_mode(get_int(src, "defaultMode"), f"{path}.defaultMode")
    seen: set[str] = set()

    def claim(target: str, shown: Any) -> None:
        if target in seen:
            errs.append(invalid(path, shown, "conflicting duplicate paths"))
        seen.add(target)

    for i, source in enumerate(get_maps(src, "sources")):
        src_path = f"{path}.sources[{i}]"
        count = 0
        for kind in ("secret", "configMap"):
            if not has(source, kind):
                continue
            count += 1
            ref = get_map(source, kind)
            kind_path = f"{src_path}.{kind}"
            if not get_str(ref, "name"):
                errs.append(required(f"{kind_path}.name", ""))
            for j, item in enumerate(get_maps(ref, "items")):
                errs += _key_to_path(item, f"{kind_path}.items[{j}]")
                if get_str(item, "path"):
                    claim(get_str(item, "path"), get_str(ref, "name"))
        if has(source, "downwardAPI"):
            count += 1
            for item in get_maps(get_map(source, "downwardAPI"), "items"):
                errs += _downward_api_file(item, f"{src_path}.downwardAPI")
                if get_str(item, "path"):
                    claim(get_str(item, "path"), get_str(item, "path"))
        if has(source, "serviceAccountToken"):
            count += 1
            token = get_map(source, "serviceAccountToken")
            token_path = f"{src_path}.serviceAccountToken"
            seconds = get_int0(token, "expirationSeconds")
            if seconds < 600:
                errs.append(invalid(f"{token_path}.expirationSeconds", seconds,
                                    "may not specify a duration less than 10 minutes"))
            if seconds > 1 << 32:
                errs.append(invalid(f"{token_path}.expirationSeconds", seconds,
                                    "may not specify a duration larger than 2^32 seconds"))
            token_file = get_str(token, "path")
            if not token_file:
                errs.append(required(f"{path}.path", ""))
            else:
                errs += validate_local_non_reserved_path(token_file, f"{path}.path")
        if has(source, "clusterTrustBundle"):
            count += 1
            bundle = get_map(source, "clusterTrustBundle")
            bundle_path = f"{src_path}.clusterTrustBundle"
            using_name, using_signer = has(bundle, "name"), has(bundle, "signerName")
            if using_name and using_signer:
                errs.append(invalid(bundle_path, bundle,
                                    "only one of name and signerName may be used"))
            elif using_name:
                if not get_str(bundle, "name"):
                    errs.append(required(f"{bundle_path}.name", "must be a valid object name"))
                if has(bundle, "labelSelector"):
                    errs.append(invalid(f"{bundle_path}.labelSelector", bundle.get("labelSelector"),
                                        "labelSelector must be unset if name is specified"))
            elif using_signer:
                if not get_str(bundle, "signerName"):
                    errs.append(required(f"{bundle_path}.signerName",
                                         "must be a valid signer name"))
                errs += validate_label_selector(bundle.get("labelSelector"),
                                                f"{bundle_path}.labelSelector")
            else:
                errs.append(required(bundle_path, "either name or signerName must be specified"))
            bundle_file = get_str(bundle, "path")
            if not bundle_file:
                errs.append(required(f"{bundle_path}.path", ""))
            errs += validate_local_non_reserved_path(bundle_file, f"{bundle_path}.path")
            claim(bundle_file, bundle_file)
        if has(source, "podCertificate"):
            count += 1
            cert = get_map(source, "podCertificate")
            cert_path = f"{src_path}.podCertificate"
            key_types = ["RSA3072", "RSA4096", "ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519"]
            if get_str(cert, "keyType") not in key_types:
                errs.append(not_supported(f"{cert_path}.keyType", get_str(cert, "keyType"),
                                          key_types))
            paths = 0
            for key in ("credentialBundlePath", "keyPath", "certificateChainPath"):
                value = get_str(cert, key)
                if value:
                    paths += 1
                    errs += validate_local_non_reserved_path(value, f"{cert_path}.{key}")
                    claim(value, value)
            if paths == 0:
                errs.append(required(cert_path, "specify at least one of credentialBundlePath, "
                                                "keyPath, and certificateChainPath"))
        if count > 1:
            errs.append(field_forbidden(src_path,
                                        "may not specify more than 1 volume type per source"))
    return errs


def _ephemeral_source(src: dict[str, Any], path: str) -> list[FieldError]:
    if not has(src, "volumeClaimTemplate"):
        return [required(f"{path}.volumeClaimTemplate", "")]
    template = get_map(src, "volumeClaimTemplate")
    template_path = f"{path}.volumeClaimTemplate"
    errs = validate_template_object_meta(template.get("metadata"), f"{template_path}.metadata")
    errs += validate_pvc_spec(get_map(template, "spec"), f"{template_path}.spec")
    return errs


def _image_source(src: dict[str, Any], path: str, opts: PodOptions) -> list[FieldError]:
    errs: list[FieldError] = []
    if opts.resource_is_pod and not get_str(src, "reference"):
        errs.append(required(f"{path}.reference", ""))
    errs += validate_pull_policy(get_str(src, "pullPolicy"), f"{path}.pullPolicy")
    return errs




def _flocker_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name, uuid = get_str(src, "datasetName"), get_str(src, "datasetUUID")
    if not name and not uuid:
        errs.append(required(path, "one of datasetName and datasetUUID is required"))
    if name and uuid:
        errs.append(invalid(path, "resource",
                            "datasetName and datasetUUID can not be specified simultaneously"))
    if "/" in name:
        errs.append(invalid(f"{path}.datasetName", name, "must not contain '/'"))
    return errs


def _split_host_port(pair: str) -> bool:
    """Whether Go's ``net.SplitHostPort`` accepts ``pair``."""
    if pair.startswith("["):
        end = pair.find("]")
        return end > 0 and pair[end + 1:end + 2] == ":" and "]" not in pair[end + 1:]
    host, sep, _ = pair.rpartition(":")
    return bool(sep) and ":" not in host and "[" not in pair and "]" not in pair


def _quobyte_source(src: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    registry = get_str(src, "registry")
    message = "must be a host:port pair or multiple pairs separated by commas"
    if not registry:
        errs.append(required(f"{path}.registry", message))
    elif len(get_str(src, "tenant")) >= 65:
        errs.append(required(f"{path}.tenant",
                             "must be a UUID and may not exceed a length of 64 characters"))
    else:
        for pair in registry.split(","):
            if not _split_host_port(pair):
                errs.append(invalid(f"{path}.registry", registry, message))
    if not get_str(src, "volume"):
        errs.append(required(f"{path}.volume", ""))
    return errs


# (json key, path used for the "more than one" error, path used for the source's own
# errors, validator). The odd paths are upstream's (typos included) so messages match.
_VOLUME_SOURCES: list[tuple[str, str, str, SourceCheck | None]] = [
    ("emptyDir", "emptyDir", "emptyDir", _empty_dir_source),
    ("hostPath", "hostPath", "hostPath", _host_path_source),
    ("gitRepo", "gitRepo", "gitRepo", _git_repo_source),
    ("gcePersistentDisk", "gcePersistentDisk", "persistentDisk", _partition_disk("pdName")),
    ("awsElasticBlockStore", "awsElasticBlockStore", "awsElasticBlockStore",
     _partition_disk("volumeID")),
    ("secret", "secret", "secret", _secret_source),
    ("nfs", "nfs", "nfs", _nfs_source),
    ("iscsi", "iscsi", "iscsi", _iscsi_source),
    ("glusterfs", "glusterfs", "glusterfs", _requires("endpoints", "path")),
    ("flocker", "flocker", "flocker", _flocker_source),
    ("persistentVolumeClaim", "persistentVolumeClaim", "persistentVolumeClaim", _pvc_source),
    ("rbd", "rbd", "rbd", _requires("monitors", "image")),
    ("cinder", "cinder", "cinder", _cinder_source),
    ("cephfs", "cephFS", "cephfs", _requires("monitors")),
    ("quobyte", "quobyte", "quobyte", _quobyte_source),
    ("downwardAPI", "downwarAPI", "downwardAPI", _downward_api_source),
    ("fc", "fc", "fc", _fc_source),
    ("flexVolume", "flexVolume", "flexVolume", _flex_source),
    ("configMap", "configMap", "configMap", _config_map_source),
    ("azureFile", "azureFile", "azureFile", _requires("secretName", "shareName")),
    ("vsphereVolume", "vsphereVolume", "vsphereVolume", _requires("volumePath")),
    ("photonPersistentDisk", "photonPersistentDisk", "photonPersistentDisk", _requires("pdID")),
    ("portworxVolume", "portworxVolume", "portworxVolume", _requires("volumeID")),
    ("azureDisk", "azureDisk", "azureDisk", _azure_disk_source),
    ("storageos", "storageos", "storageos", _storageos_source),
    ("projected", "projected", "projected", _projected_source),
    ("scaleIO", "scaleIO", "scaleIO", _requires("gateway", "system", "volumeName")),
    ("csi", "csi", "csi", _csi_source),
    ("ephemeral", "ephemeral", "ephemeral", _ephemeral_source),
    ("image", "image", "image", None),  # needs the options: checked inline
]
VOLUME_SOURCE_KEYS = tuple(key for key, _, _, _ in _VOLUME_SOURCES)
# The per-source validators, by json key (PersistentVolumes reuse most of them).
VOLUME_SOURCE_CHECKS: dict[str, SourceCheck] = {
    key: check for key, _, _, check in _VOLUME_SOURCES if check is not None
}


def validate_volume_source(vol: dict[str, Any], path: str, vol_name: str, pod_name: str,
                           opts: PodOptions) -> list[FieldError]:
    """Exactly one source, each validated (``validateVolumeSource``)."""
    errs: list[FieldError] = []
    count = 0
    for key, dup_path, own_path, check in _VOLUME_SOURCES:
        if not has(vol, key):
            continue
        if count > 0:
            errs.append(field_forbidden(f"{path}.{dup_path}",
                                        "may not specify more than 1 volume type"))
            continue
        count += 1
        src = get_map(vol, key)
        if check is None:
            errs += _image_source(src, f"{path}.{own_path}", opts)
        else:
            errs += check(src, f"{path}.{own_path}")
        if key == "iscsi" and has(src, "initiatorName") \
                and len(vol_name + ":" + get_str(src, "targetPortal")) > 64:
            errs.append(invalid(f"{path}.name", vol_name,
                                "Total length of <volume name>:<iscsi.targetPortal> must be "
                                "under 64 characters if iscsi.initiatorName is specified."))
        if key == "ephemeral" and pod_name and vol_name:
            pvc_name = f"{pod_name}-{vol_name}"
            for msg in name_is_dns_subdomain(pvc_name, False):
                errs.append(invalid(f"{path}.name", vol_name, f'PVC name "{pvc_name}": {msg}'))
    if count == 0:
        errs.append(required(path, "must specify a volume type"))
    return errs


def validate_volumes(volumes: Any, path: str, pod_name: str,
                     opts: PodOptions) -> tuple[dict[str, dict[str, Any]], list[FieldError]]:
    """All volumes; returns the valid ones by name (for mount checks) and the errors."""
    errs: list[FieldError] = []
    valid: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    created_pvcs = {f"{pod_name}-{get_str(v, 'name')}" for v in as_maps(volumes)
                    if pod_name and has(v, "ephemeral")}
    for i, vol in enumerate(as_maps(volumes)):
        vol_path = f"{path}[{i}]"
        name = get_str(vol, "name")
        own = validate_volume_source(vol, vol_path, name, pod_name, opts)
        if not name:
            own.append(required(f"{vol_path}.name", ""))
        else:
            own += validate_dns1123_label(name, f"{vol_path}.name")
        if name in names:
            own.append(duplicate(f"{vol_path}.name", name))
        if own:
            errs += own
        else:
            names.add(name)
            valid[name] = vol
        claim = get_str(get_map(vol, "persistentVolumeClaim"), "claimName")
        if has(vol, "persistentVolumeClaim") and claim in created_pvcs:
            errs.append(invalid(f"{vol_path}.persistentVolumeClaim.claimName", claim,
                                "must not reference a PVC that gets created for an ephemeral "
                                "volume"))
    return valid, errs


# ---------------------------------------------------------------------------- PVC spec


def validate_access_modes(modes: list[Any], path: str) -> list[FieldError]:
    """Each mode is known, and ReadWriteOncePod stands alone (PV and PVC specs)."""
    errs: list[FieldError] = []
    rwop = other = False
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported(path, mode, ACCESS_MODES))
        if mode == "ReadWriteOncePod":
            rwop = True
        elif mode in ACCESS_MODES:
            other = True
    if rwop and other:
        errs.append(field_forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def validate_pvc_spec(spec: dict[str, Any], path: str) -> list[FieldError]:
    """``ValidatePersistentVolumeClaimSpec`` (shared with ephemeral volumes)."""
    errs: list[FieldError] = []
    modes = get_list(spec, "accessModes")
    if not modes:
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    if has(spec, "selector"):
        errs += validate_label_selector(spec.get("selector"), f"{path}.selector")
    errs += validate_access_modes(modes, f"{path}.accessModes")
    storage_path = key_path(f"{path}.resources", "storage")
    requests = get_map(get_map(spec, "resources"), "requests")
    if "storage" not in requests:
        errs.append(required(storage_path, ""))
    else:
        storage = quantity(requests["storage"], storage_path, errs)
        if storage is not None and storage.sign() <= 0:
            errs.append(invalid(storage_path, str(storage), "must be greater than zero"))
    class_name = get_str(spec, "storageClassName")
    if class_name:
        errs += invalid_each(f"{path}.storageClassName", class_name,
                             name_is_dns_subdomain(class_name, False))
    if has(spec, "volumeMode") and spec.get("volumeMode") not in ("Block", "Filesystem"):
        errs.append(not_supported(f"{path}.volumeMode", spec.get("volumeMode"),
                                  ["Block", "Filesystem"]))
    if has(spec, "dataSource"):
        errs += _validate_data_source(get_map(spec, "dataSource"), f"{path}.dataSource")
    if has(spec, "dataSourceRef"):
        errs += _validate_data_source(get_map(spec, "dataSourceRef"), f"{path}.dataSourceRef",
                                      ref=True)
    ref = get_map(spec, "dataSourceRef")
    if has(spec, "dataSourceRef") and get_str(ref, "namespace"):
        if has(spec, "dataSource"):
            errs.append(invalid(path, f"{path}.dataSource",
                                "may not be specified when dataSourceRef.namespace is specified"))
    elif has(spec, "dataSource") and has(spec, "dataSourceRef"):
        source = get_map(spec, "dataSource")
        if (source.get("apiGroup"), get_str(source, "kind"), get_str(source, "name")) != \
                (ref.get("apiGroup"), get_str(ref, "kind"), get_str(ref, "name")):
            errs.append(invalid(path, f"{path}.dataSource", "must match dataSourceRef"))
    attributes_class = get_str(spec, "volumeAttributesClassName")
    if attributes_class:
        errs += invalid_each(f"{path}.volumeAttributesClassName", attributes_class,
                             name_is_dns_subdomain(attributes_class, False))
    return errs


def _validate_data_source(source: dict[str, Any], path: str, *, ref: bool = False
                          ) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_str(source, "name"):
        errs.append(required(f"{path}.name", ""))
    if not get_str(source, "kind"):
        errs.append(required(f"{path}.kind", ""))
    group = get_str(source, "apiGroup")
    if not group and get_str(source, "kind") != "PersistentVolumeClaim":
        errs.append(invalid(path, get_str(source, "kind"),
                            "must be 'PersistentVolumeClaim' when referencing the default "
                            "apiGroup"))
    if group:
        errs += validate_dns1123_subdomain(group, f"{path}.apiGroup")
    if ref and has(source, "namespace") and get_str(source, "namespace"):
        errs += invalid_each(f"{path}.namespace", get_str(source, "namespace"),
                             validate_namespace_name(get_str(source, "namespace"), False))
    return errs


# ---------------------------------------------------------------------------- containers


def validate_container_ports(ports: Any, path: str) -> list[FieldError]:
    """Names are unique IANA names, ports 1-65535, protocol TCP/UDP/SCTP."""
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(as_maps(ports)):
        port_path = f"{path}[{i}]"
        name = get_str(port, "name")
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs += invalid_each(f"{port_path}.name", name, msgs)
            elif name in names:
                errs.append(duplicate(f"{port_path}.name", name))
            else:
                names.add(name)
        container_port = get_int0(port, "containerPort")
        if container_port == 0:
            errs.append(required(f"{port_path}.containerPort", ""))
        else:
            errs += invalid_each(f"{port_path}.containerPort", container_port,
                                 is_valid_port_num(container_port))
        host_port = get_int0(port, "hostPort")
        if host_port != 0:
            errs += invalid_each(f"{port_path}.hostPort", host_port, is_valid_port_num(host_port))
        protocol = get_str(port, "protocol")
        if not protocol:
            errs.append(required(f"{port_path}.protocol", ""))
        elif protocol not in PROTOCOLS:
            errs.append(not_supported(f"{port_path}.protocol", protocol, PROTOCOLS))
    return errs


def _split_subscripted(field_path: str) -> tuple[str, str] | None:
    if not field_path.endswith("']"):
        return None
    head, sep, subscript = field_path[:-2].partition("['")
    if not sep or not head:
        return None
    return head, subscript


def validate_object_field_selector(ref: dict[str, Any], allowed: list[str],
                                   path: str) -> list[FieldError]:
    """A downward-API ``fieldRef``."""
    api_version = get_str(ref, "apiVersion")
    if not api_version:
        return [required(f"{path}.apiVersion", "")]
    field_path = get_str(ref, "fieldPath")
    if not field_path:
        return [required(f"{path}.fieldPath", "")]
    if api_version != "v1":
        return [invalid(f"{path}.fieldPath", field_path,
                        f"error converting fieldPath: unsupported pod version: {api_version}")]
    split = _split_subscripted(field_path)
    if split is not None:
        head, subscript = split
        if head not in ("metadata.annotations", "metadata.labels"):
            return [invalid(f"{path}.fieldPath", field_path,
                            "error converting fieldPath: field label does not support "
                            f"subscript: {field_path}")]
        if head == "metadata.annotations":
            return invalid_each(path, subscript.lower(), is_qualified_name(subscript.lower()))
        return invalid_each(path, subscript, is_qualified_name(subscript))
    internal = "spec.nodeName" if field_path == "spec.host" else field_path
    if internal not in _DOWNWARD_LABELS:
        return [invalid(f"{path}.fieldPath", field_path,
                        f"error converting fieldPath: field label not supported: {field_path}")]
    if internal not in allowed:
        return [not_supported(f"{path}.fieldPath", internal, sorted(allowed))]
    return []


def _resource_field_selector(ref: dict[str, Any], path: str, *, volume: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    resource = get_str(ref, "resource")
    if volume and not get_str(ref, "containerName"):
        errs.append(required(f"{path}.containerName", ""))
    elif not resource:
        errs.append(required(f"{path}.resource", ""))
    elif resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(
            ("requests.hugepages-", "limits.hugepages-")):
        errs.append(not_supported(f"{path}.resource", resource, _RESOURCE_FIELD_PATHS))
    if has(ref, "divisor"):
        divisor = quantity(ref.get("divisor"), f"{path}.divisor", errs)
        if divisor is not None and not divisor.is_zero():
            shown = str(divisor)
            if resource in ("limits.cpu", "requests.cpu") and shown not in ("1m", "1"):
                errs.append(invalid(f"{path}.divisor", resource,
                                    "only divisor's values 1m and 1 are supported with the cpu "
                                    "resource"))
            kinds = {"limits.memory": "memory", "requests.memory": "memory",
                     "limits.ephemeral-storage": "local ephemeral storage",
                     "requests.ephemeral-storage": "local ephemeral storage"}
            if resource.startswith(("requests.hugepages-", "limits.hugepages-")):
                kinds[resource] = "hugepages"
            if resource in kinds and shown not in _MEMORY_DIVISORS:
                errs.append(invalid(f"{path}.divisor", resource,
                                    "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, "
                                    f"1Gi, 1Ti, 1Pi, 1Ei are supported with the {kinds[resource]} "
                                    "resource"))
    return errs


def _key_selector(ref: dict[str, Any], path: str) -> list[FieldError]:
    name = get_str(ref, "name")
    errs = invalid_each(f"{path}.name", name, name_is_dns_subdomain(name, False))
    key = get_str(ref, "key")
    if not key:
        errs.append(required(f"{path}.key", ""))
    else:
        errs += invalid_each(f"{path}.key", key, is_config_map_key(key))
    return errs


def validate_env(env: Any, path: str) -> list[FieldError]:
    """Environment variables (relaxed names, the default since 1.34)."""
    errs: list[FieldError] = []
    for i, var in enumerate(as_maps(env)):
        var_path = f"{path}[{i}]"
        name = get_str(var, "name")
        if not name:
            errs.append(required(f"{var_path}.name", ""))
        else:
            errs += invalid_each(f"{var_path}.name", name, is_relaxed_env_var_name(name))
        if has(var, "valueFrom"):
            errs += _env_value_from(var, f"{var_path}.valueFrom")
    return errs


def _env_value_from(var: dict[str, Any], path: str) -> list[FieldError]:
    source = get_map(var, "valueFrom")
    errs: list[FieldError] = []
    count = 0
    if has(source, "fieldRef"):
        count += 1
        errs += validate_object_field_selector(get_map(source, "fieldRef"), _ENV_FIELD_PATHS,
                                               f"{path}.fieldRef")
    if has(source, "resourceFieldRef"):
        count += 1
        errs += _resource_field_selector(get_map(source, "resourceFieldRef"),
                                         f"{path}.resourceFieldRef", volume=False)
    if has(source, "configMapKeyRef"):
        count += 1
        errs += _key_selector(get_map(source, "configMapKeyRef"), f"{path}.configMapKeyRef")
    if has(source, "secretKeyRef"):
        count += 1
        errs += _key_selector(get_map(source, "secretKeyRef"), f"{path}.secretKeyRef")
    if has(source, "fileKeyRef"):
        count += 1
        ref = get_map(source, "fileKeyRef")
        ref_path = f"{path}.fileKeyRef"
        key = get_str(ref, "key")
        if not key:
            errs.append(required(f"{ref_path}.key", ""))
        else:
            errs += invalid_each(f"{ref_path}.key", key, is_relaxed_env_var_name(key))
        volume = get_str(ref, "volumeName")
        if not volume:
            errs.append(required(f"{ref_path}.volumeName", ""))
        else:
            errs += validate_dns1123_label(volume, f"{ref_path}.volumeName")
        file_path = get_str(ref, "path")
        if not file_path:
            errs.append(required(f"{ref_path}.path", ""))
        else:
            errs += validate_path_no_backsteps(file_path, f"{ref_path}.path")
    if count == 0:
        errs.append(invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                      "`configMapKeyRef` or `secretKeyRef`"))
    elif get_str(var, "value"):
        errs.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def validate_env_from(env_from: Any, path: str) -> list[FieldError]:
    """``envFrom`` sources: exactly one of configMapRef / secretRef each."""
    errs: list[FieldError] = []
    for i, source in enumerate(as_maps(env_from)):
        src_path = f"{path}[{i}]"
        prefix = get_str(source, "prefix")
        if prefix:
            errs += invalid_each(f"{src_path}.prefix", prefix, is_relaxed_env_var_name(prefix))
        count = 0
        for key in ("configMapRef", "secretRef"):
            if has(source, key):
                count += 1
                name = get_str(get_map(source, key), "name")
                if not name:
                    errs.append(required(f"{src_path}.{key}.name", ""))
                else:
                    errs += invalid_each(f"{src_path}.{key}.name", name,
                                         name_is_dns_subdomain(name, True))
        if count == 0:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def validate_volume_mounts(container: dict[str, Any], volumes: dict[str, dict[str, Any]],
                           path: str) -> list[FieldError]:
    """Mounts name an existing volume, have unique paths, no device clashes."""
    errs: list[FieldError] = []
    devices = {get_str(d, "name"): get_str(d, "devicePath")
               for d in get_maps(container, "volumeDevices")}
    privileged = get_map(container, "securityContext").get("privileged") is True
    mountpoints: set[str] = set()
    for i, mount in enumerate(get_maps(container, "volumeMounts")):
        mount_path = f"{path}[{i}]"
        name = get_str(mount, "name")
        target = get_str(mount, "mountPath")
        if not name:
            errs.append(required(f"{mount_path}.name", ""))
        if name not in volumes:
            errs.append(field_not_found(f"{mount_path}.name", name))
        if not target:
            errs.append(required(f"{mount_path}.mountPath", ""))
        if target in mountpoints:
            errs.append(invalid(f"{mount_path}.mountPath", target, "must be unique"))
        mountpoints.add(target)
        if name in devices:
            errs.append(invalid(f"{mount_path}.name", name,
                                "must not already exist in volumeDevices"))
        if target in devices.values():
            errs.append(invalid(f"{mount_path}.mountPath", target,
                                "must not already exist as a path in volumeDevices"))
        sub_path = get_str(mount, "subPath")
        if sub_path:
            errs += validate_local_descending_path(sub_path, f"{path}.subPath")
        sub_path_expr = get_str(mount, "subPathExpr")
        if sub_path_expr:
            if sub_path:
                errs.append(invalid(f"{mount_path}.subPathExpr", sub_path_expr,
                                    "subPathExpr and subPath are mutually exclusive"))
            errs += validate_local_descending_path(sub_path_expr, f"{path}.subPathExpr")
        propagation = mount.get("mountPropagation")
        if propagation is not None:
            if propagation not in MOUNT_PROPAGATIONS:
                errs.append(not_supported(f"{path}.mountPropagation", propagation,
                                          MOUNT_PROPAGATIONS))
            if propagation == "Bidirectional" and not privileged:
                errs.append(field_forbidden(f"{path}.mountPropagation",
                                            "Bidirectional mount propagation is available only "
                                            "to privileged containers"))
        rro = mount.get("recursiveReadOnly")
        if rro is not None:
            rro_path = f"{path}.recursiveReadOnly"
            if rro in ("Enabled", "IfPossible"):
                if mount.get("readOnly") is not True:
                    errs.append(field_forbidden(rro_path, "may only be specified when readOnly "
                                                          "is true"))
                if propagation is not None and propagation != "None":
                    errs.append(field_forbidden(rro_path, "may only be specified when "
                                                          "mountPropagation is None or not "
                                                          "specified"))
            elif rro != "Disabled":
                errs.append(not_supported(rro_path, rro, RECURSIVE_READ_ONLY))
    return errs


def validate_volume_devices(container: dict[str, Any], volumes: dict[str, dict[str, Any]],
                            path: str) -> list[FieldError]:
    """Block devices name PVC-backed volumes and have unique paths."""
    errs: list[FieldError] = []
    mounts = {get_str(m, "name"): get_str(m, "mountPath")
              for m in get_maps(container, "volumeMounts")}
    device_paths: set[str] = set()
    device_names: set[str] = set()
    for i, device in enumerate(get_maps(container, "volumeDevices")):
        dev_path = f"{path}[{i}]"
        name, target = get_str(device, "name"), get_str(device, "devicePath")
        volume = volumes.get(name)
        if not name:
            errs.append(required(f"{dev_path}.name", ""))
        if name in device_names:
            errs.append(invalid(f"{dev_path}.name", name, "must be unique"))
        if volume is not None and not (has(volume, "persistentVolumeClaim")
                                       or has(volume, "ephemeral")):
            errs.append(invalid(f"{dev_path}.name", name,
                                "can only use volume source type of PersistentVolumeClaim or "
                                "Ephemeral for block mode"))
        if volume is None:
            errs.append(field_not_found(f"{dev_path}.name", name))
        if not target:
            errs.append(required(f"{dev_path}.devicePath", ""))
        if target in device_paths:
            errs.append(invalid(f"{dev_path}.devicePath", target, "must be unique"))
        if target and validate_path_no_backsteps(target, ""):
            errs.append(invalid(f"{dev_path}.devicePath", target,
                                "can not contain backsteps ('..')"))
        else:
            device_paths.add(target)
        if name in mounts:
            errs.append(invalid(f"{dev_path}.name", name, "must not already exist in volumeMounts"))
        if target in mounts.values():
            errs.append(invalid(f"{dev_path}.devicePath", target,
                                "must not already exist as a path in volumeMounts"))
        if name:
            device_names.add(name)
    return errs


def validate_pull_policy(policy: str, path: str) -> list[FieldError]:
    """Always / IfNotPresent / Never (required: the defaulter sets it)."""
    if policy in PULL_POLICIES:
        return []
    if not policy:
        return [required(path, "")]
    return [not_supported(path, policy, PULL_POLICIES)]


def _validate_handler(handler: dict[str, Any], grace: int | None, path: str, *,
                      lifecycle: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    kinds = ("exec", "httpGet", "tcpSocket", "sleep") if lifecycle else \
        ("exec", "httpGet", "tcpSocket", "grpc")
    count = 0
    for kind in kinds:
        if not has(handler, kind):
            continue
        if count > 0:
            errs.append(field_forbidden(f"{path}.{kind}",
                                        "may not specify more than 1 handler type"))
            continue
        count += 1
        action = get_map(handler, kind)
        action_path = f"{path}.{kind}"
        if kind == "exec":
            if not get_list(action, "command"):
                errs.append(required(f"{action_path}.command", ""))
        elif kind == "httpGet":
            if not get_str(action, "path"):
                errs.append(required(f"{action_path}.path", ""))
            errs += validate_port_num_or_name(action.get("port"), f"{action_path}.port")
            scheme = get_str(action, "scheme")
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(not_supported(f"{action_path}.scheme", scheme, ["HTTP", "HTTPS"]))
            for header in get_maps(action, "httpHeaders"):
                errs += invalid_each(f"{action_path}.httpHeaders", get_str(header, "name"),
                                     is_http_header_name(get_str(header, "name")))
        elif kind == "tcpSocket":
            errs += validate_port_num_or_name(action.get("port"), f"{action_path}.port")
        elif kind == "grpc":
            port = get_int0(action, "port")
            errs += invalid_each(f"{action_path}.port", port, is_valid_port_num(port))
        else:
            seconds = get_int0(action, "seconds")
            if grace is not None and (seconds < 0 or seconds > grace):
                errs.append(invalid(action_path, seconds,
                                    "must be non-negative and less than "
                                    f"terminationGracePeriodSeconds ({grace})"))
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _validate_probe(probe: dict[str, Any], grace: int | None, path: str,
                    kind: str) -> list[FieldError]:
    errs = _validate_handler(probe, grace, path, lifecycle=False)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        errs += nonnegative(get_int0(probe, key), f"{path}.{key}")
    probe_grace = get_int(probe, "terminationGracePeriodSeconds")
    if probe_grace is not None and probe_grace <= 0:
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", probe_grace,
                            "must be greater than 0"))
    if kind in ("liveness", "startup") and get_int0(probe, "successThreshold") != 1:
        errs.append(invalid(f"{path}.successThreshold", get_int0(probe, "successThreshold"),
                            "must be 1"))
    if kind == "readiness" and has(probe, "terminationGracePeriodSeconds"):
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds",
                            probe.get("terminationGracePeriodSeconds"),
                            "must not be set for readinessProbes"))
    return errs


def _validate_probes(container: dict[str, Any], grace: int | None,
                     path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, kind in (("livenessProbe", "liveness"), ("readinessProbe", "readiness"),
                      ("startupProbe", "startup")):
        if has(container, key):
            errs += _validate_probe(get_map(container, key), grace, f"{path}.{key}", kind)
    return errs


_LINUX_SIGNALS = sorted(
    ["SIGABRT", "SIGALRM", "SIGBUS", "SIGCHLD", "SIGCLD", "SIGCONT", "SIGFPE", "SIGHUP",
     "SIGILL", "SIGINT", "SIGIO", "SIGIOT", "SIGKILL", "SIGPIPE", "SIGPOLL", "SIGPROF",
     "SIGPWR", "SIGQUIT", "SIGSEGV", "SIGSTKFLT", "SIGSTOP", "SIGSYS", "SIGTERM", "SIGTRAP",
     "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGUSR1", "SIGUSR2", "SIGVTALRM", "SIGWINCH",
     "SIGXCPU", "SIGXFSZ", "SIGRTMIN", "SIGRTMAX"]
    + [f"SIGRTMIN+{i}" for i in range(1, 16)] + [f"SIGRTMAX-{i}" for i in range(1, 15)])


def _validate_lifecycle(lifecycle: dict[str, Any], grace: int | None, path: str,
                        os_name: str | None) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("postStart", "preStop"):
        if has(lifecycle, key):
            errs += _validate_handler(get_map(lifecycle, key), grace, f"{path}.{key}",
                                      lifecycle=True)
    if has(lifecycle, "stopSignal"):
        signal = lifecycle.get("stopSignal")
        signal_path = f"{path}.stopSignal"
        if os_name is None:
            errs.append(field_forbidden(signal_path,
                                        "may not be set for containers with empty "
                                        "`spec.os.name`"))
        elif os_name == "windows" and signal not in ("SIGKILL", "SIGTERM"):
            errs.append(not_supported(signal_path, signal, ["SIGKILL", "SIGTERM"]))
        elif os_name == "linux" and signal not in _LINUX_SIGNALS:
            errs.append(not_supported(signal_path, signal, _LINUX_SIGNALS))
    return errs


def _validate_resize_policy(policies: Any, path: str, pod_restart: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, policy in enumerate(as_maps(policies)):
        name = get_str(policy, "resourceName")
        if name in seen:
            errs.append(duplicate(f"{path}[{i}]", name))
        seen.add(name)
        if not name:
            errs.append(required(path, ""))
        elif name not in ("cpu", "memory"):
            errs.append(not_supported(path, name, ["cpu", "memory"]))
        restart = get_str(policy, "restartPolicy")
        if not restart:
            errs.append(required(path, ""))
        elif restart not in ("NotRequired", "RestartContainer"):
            errs.append(not_supported(path, restart, ["NotRequired", "RestartContainer"]))
        if pod_restart == "Never" and restart != "NotRequired":
            errs.append(invalid(path, restart, "must be 'NotRequired' when `restartPolicy` is "
                                               "'Never'"))
    return errs


def _validate_container_restart_rules(container: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    policy = container.get("restartPolicy")
    rules = get_maps(container, "restartPolicyRules")
    if policy is None:
        if not rules:
            return errs
        errs.append(required(f"{path}.restartPolicy",
                             "must specify restartPolicy when restart rules are used"))
    elif policy not in ("Always", "Never", "OnFailure"):
        errs.append(not_supported(f"{path}.restartPolicy", policy,
                                  ["Always", "Never", "OnFailure"]))
    if len(rules) > 20:
        errs.append(too_long(f"{path}.restartPolicyRules", "", 20))
    for i, rule in enumerate(rules):
        rule_path = f"{path}.restartPolicyRules[{i}]"
        if get_str(rule, "action") != "Restart":
            errs.append(not_supported(f"{rule_path}.action", get_str(rule, "action"), ["Restart"]))
        if has(rule, "exitCodes"):
            codes = get_map(rule, "exitCodes")
            if get_str(codes, "operator") not in ("In", "NotIn"):
                errs.append(not_supported(f"{rule_path}.exitCodes.operator",
                                          get_str(codes, "operator"), ["In", "NotIn"]))
            if len(get_list(codes, "values")) > 255:
                errs.append(too_long(f"{rule_path}.exitCodes.values", "", 255))
        else:
            errs.append(required(f"{rule_path}.exitCodes", "must be specified"))
    return errs


def validate_security_context(ctx: Any, path: str, host_users: bool) -> list[FieldError]:
    """A container ``securityContext``."""
    if ctx is None:
        return []
    sc = as_map(ctx)
    errs: list[FieldError] = []
    for key, check in (("runAsUser", is_valid_user_id), ("runAsGroup", is_valid_group_id)):
        value = get_int(sc, key)
        if value is not None:
            errs += invalid_each(f"{path}.{key}", value, check(value))
    if has(sc, "procMount"):
        proc_mount = sc.get("procMount")
        if proc_mount not in ("Default", "Unmasked"):
            errs.append(not_supported(f"{path}.procMount", proc_mount, ["Default", "Unmasked"]))
        if host_users and proc_mount == "Unmasked":
            errs.append(invalid(f"{path}.procMount", proc_mount,
                                "`hostUsers` must be false to use `Unmasked`"))
    errs += _seccomp_profile(sc.get("seccompProfile"), f"{path}.seccompProfile")
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            errs.append(invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and "
                                          "`privileged` to true"))
        for cap in get_list(get_map(sc, "capabilities"), "add"):
            if cap == "CAP_SYS_ADMIN":
                errs.append(invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false "
                                              "and `capabilities.Add` CAP_SYS_ADMIN"))
    errs += _apparmor_profile(sc.get("appArmorProfile"), f"{path}.appArmorProfile")
    return errs


def _seccomp_profile(profile: Any, path: str) -> list[FieldError]:
    if profile is None:
        return []
    sp = as_map(profile)
    errs: list[FieldError] = []
    ptype = get_str(sp, "type")
    kinds = ["Localhost", "RuntimeDefault", "Unconfined"]
    if not ptype:
        errs.append(required(f"{path}.type", "type is required when seccompProfile is set"))
    elif ptype not in kinds:
        errs.append(not_supported(f"{path}.type", ptype, kinds))
    if ptype == "Localhost":
        if not has(sp, "localhostProfile"):
            errs.append(required(f"{path}.localhostProfile",
                                 "must be set when seccomp type is Localhost"))
        else:
            errs += validate_local_descending_path(get_str(sp, "localhostProfile"),
                                                   f"{path}.localhostProfile")
    elif has(sp, "localhostProfile"):
        errs.append(invalid(f"{path}.localhostProfile", sp,
                            "can only be set when seccomp type is Localhost"))
    return errs


def _apparmor_profile(profile: Any, path: str) -> list[FieldError]:
    if profile is None:
        return []
    ap = as_map(profile)
    errs: list[FieldError] = []
    ptype = get_str(ap, "type")
    if ptype == "Localhost":
        if not has(ap, "localhostProfile"):
            errs.append(required(f"{path}.localhostProfile",
                                 "must be set when AppArmor type is Localhost"))
        else:
            local = get_str(ap, "localhostProfile")
            if local.strip() != local:
                errs.append(invalid(f"{path}.localhostProfile", local,
                                    "must not be padded with whitespace"))
            elif not local:
                errs.append(required(f"{path}.localhostProfile",
                                     "must be set when AppArmor type is Localhost"))
            if len(local) > 4095:
                errs.append(too_long(f"{path}.localhostProfile", "", 4095))
    elif ptype in ("RuntimeDefault", "Unconfined"):
        if has(ap, "localhostProfile"):
            errs.append(invalid(f"{path}.localhostProfile", get_str(ap, "localhostProfile"),
                                "can only be set when AppArmor type is Localhost"))
    elif not ptype:
        errs.append(required(f"{path}.type", "type is required when appArmorProfile is set"))
    else:
        errs.append(not_supported(f"{path}.type", ptype,
                                  ["Localhost", "RuntimeDefault", "Unconfined"]))
    return errs


def _validate_container_common(ctr: dict[str, Any], volumes: dict[str, dict[str, Any]],
                               claim_names: frozenset[str], path: str, pod_restart: str,
                               host_users: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    name = get_str(ctr, "name")
    if not name:
        errs.append(required(f"{path}.name", ""))
    else:
        errs += validate_dns1123_label(name, f"{path}.name")
    if not get_str(ctr, "image"):
        errs.append(required(f"{path}.image", ""))
    policy = get_str(ctr, "terminationMessagePolicy")
    if not policy:
        errs.append(required(f"{path}.terminationMessagePolicy", ""))
    elif policy not in ("File", "FallbackToLogsOnError"):
        errs.append(not_supported(f"{path}.terminationMessagePolicy", policy,
                                  ["File", "FallbackToLogsOnError"]))
    errs += validate_container_ports(ctr.get("ports"), f"{path}.ports")
    errs += validate_env(ctr.get("env"), f"{path}.env")
    errs += validate_env_from(ctr.get("envFrom"), f"{path}.envFrom")
    errs += validate_volume_mounts(ctr, volumes, f"{path}.volumeMounts")
    errs += validate_volume_devices(ctr, volumes, f"{path}.volumeDevices")
    errs += validate_pull_policy(get_str(ctr, "imagePullPolicy"), f"{path}.imagePullPolicy")
    errs += validate_resource_requirements(ctr.get("resources"), f"{path}.resources",
                                           pod_claim_names=claim_names)
    errs += _validate_resize_policy(ctr.get("resizePolicy"), f"{path}.resizePolicy", pod_restart)
    errs += validate_security_context(ctr.get("securityContext"), f"{path}.securityContext",
                                      host_users)
    return errs


def _host_port_conflicts(containers: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(get_maps(ctr, "ports")):
            host_port = get_int0(port, "hostPort")
            if host_port == 0:
                continue
            key = f"{get_str(port, 'protocol')}/{get_str(port, 'hostIP')}/{host_port}"
            if key in seen:
                errs.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            seen.add(key)
    return errs


def _validate_containers(spec: dict[str, Any], volumes: dict[str, dict[str, Any]],
                         claim_names: frozenset[str], grace: int | None, path: str,
                         host_users: bool) -> list[FieldError]:
    containers = get_maps(spec, "containers")
    if not containers:
        return [required(path, "")]
    errs: list[FieldError] = []
    os_name = get_str(get_map(spec, "os"), "name") if has(spec, "os") else None
    pod_restart = get_str(spec, "restartPolicy")
    names: set[str] = set()
    for i, ctr in enumerate(containers):
        ctr_path = f"{path}[{i}]"
        errs += _validate_container_common(ctr, volumes, claim_names, ctr_path, pod_restart,
                                           host_users)
        name = get_str(ctr, "name")
        if name in names:
            errs.append(duplicate(f"{ctr_path}.name", name))
        names.add(name)
        if has(ctr, "lifecycle"):
            errs += _validate_lifecycle(get_map(ctr, "lifecycle"), grace,
                                        f"{ctr_path}.lifecycle", os_name)
        errs += _validate_probes(ctr, grace, ctr_path)
        errs += _validate_container_restart_rules(ctr, ctr_path)
    errs += _host_port_conflicts(containers, path)
    return errs


def _validate_init_containers(spec: dict[str, Any], volumes: dict[str, dict[str, Any]],
                              claim_names: frozenset[str], grace: int | None, path: str,
                              host_users: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    os_name = get_str(get_map(spec, "os"), "name") if has(spec, "os") else None
    pod_restart = get_str(spec, "restartPolicy")
    names = {get_str(c, "name") for c in get_maps(spec, "containers")}
    for i, ctr in enumerate(get_maps(spec, "initContainers")):
        ctr_path = f"{path}[{i}]"
        errs += _validate_container_common(ctr, volumes, claim_names, ctr_path, pod_restart,
                                           host_users)
        restart_always = False
        if has(ctr, "restartPolicy"):
            restart = ctr.get("restartPolicy")
            if restart == "Always":
                restart_always = True
                if get_list(ctr, "restartPolicyRules"):
                    errs.append(field_forbidden(f"{ctr_path}.restartPolicyRules",
                                                "restartPolicyRules are not allowed for init "
                                                "containers with restart policy Always"))
            else:
                errs += _validate_container_restart_rules(ctr, ctr_path)
        name = get_str(ctr, "name")
        if name in names:
            errs.append(duplicate(f"{ctr_path}.name", name))
        elif name:
            names.add(name)
        errs += _host_port_conflicts([ctr], path)
        if restart_always:
            if has(ctr, "lifecycle"):
                errs += _validate_lifecycle(get_map(ctr, "lifecycle"), grace,
                                            f"{ctr_path}.lifecycle", os_name)
            errs += _validate_probes(ctr, grace, ctr_path)
        else:
            for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if has(ctr, key):
                    errs.append(field_forbidden(f"{ctr_path}.{key}",
                                                "may not be set for init containers without "
                                                "restartPolicy=Always"))
    return errs


def _validate_ephemeral_containers(spec: dict[str, Any], volumes: dict[str, dict[str, Any]],
                                   claim_names: frozenset[str], path: str,
                                   host_users: bool) -> list[FieldError]:
    ephemeral = get_maps(spec, "ephemeralContainers")
    if not ephemeral:
        return []
    errs: list[FieldError] = []
    others = {get_str(c, "name") for c in get_maps(spec, "containers")}
    others |= {get_str(c, "name") for c in get_maps(spec, "initContainers")}
    names = set(others)
    pod_restart = get_str(spec, "restartPolicy")
    for i, ctr in enumerate(ephemeral):
        ctr_path = f"{path}[{i}]"
        errs += _validate_container_common(ctr, volumes, claim_names, ctr_path, pod_restart,
                                           host_users)
        errs += _container_only_for_pod(ctr, ctr_path)
        name = get_str(ctr, "name")
        if name in names:
            errs.append(duplicate(f"{ctr_path}.name", name))
        names.add(name)
        target = get_str(ctr, "targetContainerName")
        if target and target not in others:
            errs.append(field_not_found(f"{ctr_path}.targetContainerName", target))
        for key in _CONTAINER_FIELDS:
            if key not in _EPHEMERAL_ALLOWED and not _zero(ctr.get(key)):
                errs.append(field_forbidden(f"{ctr_path}.{key}",
                                            "cannot be set for an Ephemeral Container"))
        for j, mount in enumerate(get_maps(ctr, "volumeMounts")):
            for key in ("subPath", "subPathExpr"):
                if get_str(mount, key):
                    errs.append(field_forbidden(f"{ctr_path}.volumeMounts[{j}].{key}",
                                                "cannot be set for an Ephemeral Container"))
    return errs


def _container_only_for_pod(ctr: dict[str, Any], path: str) -> list[FieldError]:
    image = get_str(ctr, "image")
    if image != image.strip():
        return [invalid(f"{path}.image", image, "must not have leading or trailing whitespace")]
    return []


# ---------------------------------------------------------------------------- scheduling


def validate_tolerations(tolerations: Any, path: str) -> list[FieldError]:
    """Tolerations (``ValidateTolerations``)."""
    errs: list[FieldError] = []
    for i, tol in enumerate(as_maps(tolerations)):
        tol_path = f"{path}[{i}]"
        key = get_str(tol, "key")
        operator = get_str(tol, "operator")
        effect = get_str(tol, "effect")
        if key:
            errs += validate_label_name(key, f"{tol_path}.key")
        if not key and operator != "Exists":
            errs.append(invalid(f"{tol_path}.operator", operator,
                                "operator must be Exists when `key` is empty, which means "
                                '"match all values and all keys"'))
        if has(tol, "tolerationSeconds") and effect != "NoExecute":
            errs.append(invalid(f"{tol_path}.effect", effect,
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        value = get_str(tol, "value")
        if operator in ("Equal", ""):
            msgs = is_label_value(value)
            if msgs:
                errs.append(invalid(f"{tol_path}.operator", value, ";".join(msgs)))
        elif operator == "Exists":
            if value:
                errs.append(invalid(f"{tol_path}.operator", value,
                                    "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(f"{tol_path}.operator", operator, ["Equal", "Exists"]))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(not_supported(f"{tol_path}.effect", effect, TAINT_EFFECTS))
    return errs


def validate_node_selector_requirement(req: dict[str, Any], path: str, *,
                                       allow_invalid_value: bool = False) -> list[FieldError]:
    """A node selector ``matchExpressions`` entry (label selector rules plus ``Gt``/``Lt``)."""
    return validate_label_selector_requirement(req, path,
                                               allow_invalid_label_value=allow_invalid_value,
                                               allow_gt_lt=True)


def validate_node_selector_term(term: dict[str, Any], path: str, *,
                                allow_invalid_value: bool = False) -> list[FieldError]:
    """One node selector term (matchExpressions + matchFields)."""
    errs: list[FieldError] = []
    for j, req in enumerate(get_maps(term, "matchExpressions")):
        errs += validate_node_selector_requirement(req, f"{path}.matchExpressions[{j}]",
                                                   allow_invalid_value=allow_invalid_value)
    for j, req in enumerate(get_maps(term, "matchFields")):
        req_path = f"{path}.matchFields[{j}]"
        operator = get_str(req, "operator")
        values = get_list(req, "values")
        if operator in ("In", "NotIn"):
            if len(values) != 1:
                errs.append(required(f"{req_path}.values",
                                     "must be only one value when `operator` is 'In' or "
                                     "'NotIn' for node field selector"))
        else:
            errs.append(invalid(f"{req_path}.operator", operator, "not a valid selector operator"))
        key = get_str(req, "key")
        if key != "metadata.name":
            errs.append(invalid(f"{req_path}.key", key, "not a valid field selector key"))
        else:
            for k, value in enumerate(values):
                text = value if isinstance(value, str) else ""
                errs += invalid_each(f"{req_path}.values[{k}]", text,
                                     name_is_dns_subdomain(text, False))
    return errs


def validate_node_selector(selector: dict[str, Any], path: str, *,
                           allow_invalid_value: bool = False) -> list[FieldError]:
    """A required node selector: at least one term."""
    terms = get_maps(selector, "nodeSelectorTerms")
    if not terms:
        return [required(f"{path}.nodeSelectorTerms", "must have at least one node selector term")]
    errs: list[FieldError] = []
    for i, term in enumerate(terms):
        errs += validate_node_selector_term(term, f"{path}.nodeSelectorTerms[{i}]",
                                            allow_invalid_value=allow_invalid_value)
    return errs


def _pod_affinity_term(term: dict[str, Any], path: str) -> list[FieldError]:
    errs = validate_label_selector(term.get("labelSelector"), f"{path}.labelSelector")
    errs += validate_label_selector(term.get("namespaceSelector"), f"{path}.namespaceSelector")
    for name in get_strs(term, "namespaces"):
        errs += invalid_each(f"{path}.namespace", name, validate_namespace_name(name, False))
    errs += _match_label_keys(path, get_strs(term, "matchLabelKeys"),
                              get_strs(term, "mismatchLabelKeys"), term.get("labelSelector"))
    topology = get_str(term, "topologyKey")
    if not topology:
        errs.append(required(f"{path}.topologyKey", "can not be empty"))
    errs += validate_label_name(topology, f"{path}.topologyKey")
    return errs


def _match_label_keys(path: str, match: list[str], mismatch: list[str],
                      selector: Any) -> list[FieldError]:
    if not match and not mismatch:
        return []
    errs: list[FieldError] = []
    if selector is None:
        if match:
            errs.append(field_forbidden(f"{path}.matchLabelKeys",
                                        "must not be specified when labelSelector is not set"))
        if mismatch:
            errs.append(field_forbidden(f"{path}.mismatchLabelKeys",
                                        "must not be specified when labelSelector is not set"))
        return errs
    errs += _label_keys(f"{path}.matchLabelKeys", match, selector)
    errs += _label_keys(f"{path}.mismatchLabelKeys", mismatch, selector)
    both = set(match) & set(mismatch)
    for i, key in enumerate(match):
        if key in both:
            errs.append(invalid(f"{path}.matchLabelKeys[{i}]", key,
                                "exists in both matchLabelKeys and mismatchLabelKeys"))
    return errs


def _label_keys(path: str, keys: list[str], selector: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    expression_keys = {get_str(e, "key") for e in get_maps(as_map(selector), "matchExpressions")}
    label_keys = set(get_map(as_map(selector), "matchLabels"))
    for i, key in enumerate(keys):
        errs += validate_label_name(key, f"{path}[{i}]")
        if key in label_keys or key in expression_keys:
            errs.append(invalid(f"{path}[{i}]", key,
                                "exists in both matchLabelKeys and labelSelector"))
    return errs


def _weighted_terms(terms: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, term in enumerate(terms):
        weight = get_int0(term, "weight")
        if weight <= 0 or weight > 100:
            errs.append(invalid(f"{path}[{i}].weight", weight, "must be in the range 1-100"))
        errs += _pod_affinity_term(get_map(term, "podAffinityTerm"),
                                   f"{path}[{i}].podAffinityTerm")
    return errs


def validate_affinity(affinity: Any, path: str) -> list[FieldError]:
    """Node affinity, pod affinity and anti-affinity."""
    if affinity is None:
        return []
    aff = as_map(affinity)
    errs: list[FieldError] = []
    if has(aff, "nodeAffinity"):
        node = get_map(aff, "nodeAffinity")
        node_path = f"{path}.nodeAffinity"
        required_key = "requiredDuringSchedulingIgnoredDuringExecution"
        preferred_key = "preferredDuringSchedulingIgnoredDuringExecution"
        if has(node, required_key):
            errs += validate_node_selector(get_map(node, required_key),
                                           f"{node_path}.{required_key}")
        for i, term in enumerate(get_maps(node, preferred_key)):
            term_path = f"{node_path}.{preferred_key}[{i}]"
            weight = get_int0(term, "weight")
            if weight <= 0 or weight > 100:
                errs.append(invalid(f"{term_path}.weight", weight, "must be in the range 1-100"))
            errs += validate_node_selector_term(get_map(term, "preference"),
                                                f"{term_path}.preference", allow_invalid_value=True)
    for key in ("podAffinity", "podAntiAffinity"):
        if not has(aff, key):
            continue
        pod = get_map(aff, key)
        pod_path = f"{path}.{key}"
        for i, term in enumerate(get_maps(pod, "requiredDuringSchedulingIgnoredDuringExecution")):
            errs += _pod_affinity_term(
                term, f"{pod_path}.requiredDuringSchedulingIgnoredDuringExecution[{i}]")
        errs += _weighted_terms(get_maps(pod, "preferredDuringSchedulingIgnoredDuringExecution"),
                                f"{pod_path}.preferredDuringSchedulingIgnoredDuringExecution")
    return errs


def _topology_spread(constraints: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    items = as_maps(constraints)
    for i, con in enumerate(items):
        con_path = f"{path}[{i}]"
        errs += positive(get_int0(con, "maxSkew"), f"{con_path}.maxSkew")
        if not get_str(con, "topologyKey"):
            errs.append(required(f"{con_path}.topologyKey", "can not be empty"))
        when = get_str(con, "whenUnsatisfiable")
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(not_supported(f"{con_path}.whenUnsatisfiable", when,
                                      ["DoNotSchedule", "ScheduleAnyway"]))
        for rest in items[i + 1:]:
            if (get_str(rest, "topologyKey"), get_str(rest, "whenUnsatisfiable")) == \
                    (get_str(con, "topologyKey"), when):
                errs.append(duplicate(f"{con_path}.{{topologyKey, whenUnsatisfiable}}",
                                      f"{{{get_str(con, 'topologyKey')}, {when}}}"))
                break
        min_domains = get_int(con, "minDomains")
        if min_domains is not None:
            errs += positive(min_domains, f"{con_path}.minDomains")
            if when != "DoNotSchedule":
                errs.append(invalid(f"{con_path}.minDomains", min_domains,
                                    "can only use minDomains if whenUnsatisfiable=DoNotSchedule, "
                                    f"not {when}"))
        for key in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if has(con, key) and con.get(key) not in ("Honor", "Ignore"):
                errs.append(not_supported(f"{con_path}.{key}", con.get(key), ["Honor", "Ignore"]))
        errs += _match_label_keys(con_path, get_strs(con, "matchLabelKeys"), [],
                                  con.get("labelSelector"))
        errs += validate_label_selector(con.get("labelSelector"), f"{con_path}.labelSelector")
    return errs


def _dns_config(spec: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    config = spec.get("dnsConfig")
    if get_str(spec, "dnsPolicy") == "None":
        if config is None:
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not get_list(config, "nameservers"):
            return [required(f"{path}.nameservers",
                             "must provide at least one DNS nameserver when `dnsPolicy` is None")]
    if config is None:
        return errs
    cfg = as_map(config)
    nameservers = get_strs(cfg, "nameservers")
    if len(nameservers) > MAX_DNS_NAMESERVERS:
        errs.append(invalid(f"{path}.nameservers", nameservers,
                            f"must not have more than {MAX_DNS_NAMESERVERS} nameservers"))
    for i, server in enumerate(nameservers):
        errs += validate_ip(f"{path}.nameservers[{i}]", server)
    searches = get_strs(cfg, "searches")
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        errs.append(invalid(f"{path}.searches", searches,
                            f"must not have more than {MAX_DNS_SEARCH_PATHS} search paths"))
    if len(" ".join(searches)) > MAX_DNS_SEARCH_LIST_CHARS:
        errs.append(invalid(f"{path}.searches", searches,
                            f"must not have more than {MAX_DNS_SEARCH_LIST_CHARS} characters "
                            "(including spaces) in the search list"))
    for i, search in enumerate(searches):
        if search != ".":
            trimmed = search.removesuffix(".")
            errs += invalid_each(f"{path}.searches[{i}]", trimmed,
                                 is_dns1123_subdomain_with_underscore(trimmed))
    for i, option in enumerate(get_maps(cfg, "options")):
        if not get_str(option, "name"):
            errs.append(required(f"{path}.options[{i}]", "must not be empty"))
    return errs


def _pod_security_context(spec: dict[str, Any], path: str) -> list[FieldError]:
    if spec.get("securityContext") is None:
        return []
    sc = get_map(spec, "securityContext")
    errs: list[FieldError] = []
    for key, check in (("fsGroup", is_valid_group_id), ("runAsUser", is_valid_user_id),
                       ("runAsGroup", is_valid_group_id)):
        value = get_int(sc, key)
        if value is not None:
            errs += invalid_each(f"{path}.{key}", value, check(value))
    for i, gid in enumerate(get_list(sc, "supplementalGroups")):
        if isinstance(gid, int):
            errs += invalid_each(f"{path}.supplementalGroups[{i}]", gid, is_valid_group_id(gid))
    share = sc.get("shareProcessNamespace") is True or spec.get("shareProcessNamespace") is True
    if share and spec.get("hostPID") is True:
        errs.append(invalid(f"{path}.shareProcessNamespace", True,
                            "ShareProcessNamespace and HostPID cannot both be enabled"))
    names: set[str] = set()
    for i, sysctl in enumerate(get_maps(sc, "sysctls")):
        name = get_str(sysctl, "name")
        name_path = f"{path}.sysctls[{i}].name"
        if not name:
            errs.append(required(name_path, ""))
        elif len(name) > SYSCTL_MAX_LENGTH or not _SYSCTL_RE.fullmatch(name):
            errs.append(invalid(name_path, name,
                                f"must have at most {SYSCTL_MAX_LENGTH} characters and match "
                                f"regex {_SYSCTL_RE_TEXT}"))
        elif name in names:
            errs.append(duplicate(name_path, name))
        names.add(name)
    if has(sc, "fsGroupChangePolicy") and sc.get("fsGroupChangePolicy") not in (
            "Always", "OnRootMismatch"):
        errs.append(not_supported(f"{path}.fsGroupChangePolicy", sc.get("fsGroupChangePolicy"),
                                  ["Always", "OnRootMismatch"]))
    errs += _seccomp_profile(sc.get("seccompProfile"), f"{path}.seccompProfile")
    errs += _apparmor_profile(sc.get("appArmorProfile"), f"{path}.appArmorProfile")
    if has(sc, "supplementalGroupsPolicy") and sc.get("supplementalGroupsPolicy") not in (
            "Merge", "Strict"):
        errs.append(not_supported(f"{path}.supplementalGroupsPolicy",
                                  sc.get("supplementalGroupsPolicy"), ["Merge", "Strict"]))
    if has(sc, "seLinuxChangePolicy") and sc.get("seLinuxChangePolicy") not in (
            "MountOption", "Recursive"):
        errs.append(not_supported(f"{path}.seLinuxChangePolicy", sc.get("seLinuxChangePolicy"),
                                  ["MountOption", "Recursive"]))
    return errs


def _host_network_ports(spec: dict[str, Any], path: str, opts: PodOptions) -> list[FieldError]:
    if spec.get("hostNetwork") is not True:
        return []
    errs: list[FieldError] = []
    for i, ctr in enumerate(get_maps(spec, "containers")):
        for j, port in enumerate(get_maps(ctr, "ports")):
            host_port, container_port = get_int0(port, "hostPort"), get_int0(port, "containerPort")
            if (opts.resource_is_pod or host_port != 0) and host_port != container_port:
                errs.append(invalid(f"{path}.containers[{i}].ports[{j}].hostPort", host_port,
                                    "must match `containerPort` when `hostNetwork` is true"))
    return errs


def _host_users(spec: dict[str, Any], path: str) -> list[FieldError]:
    if get_map(spec, "securityContext").get("hostUsers") is not False:
        return []
    errs: list[FieldError] = []
    if spec.get("hostNetwork") is True:
        errs.append(field_forbidden(f"{path}.hostNetwork", "when `hostUsers` is false"))
    if spec.get("hostPID") is True:
        errs.append(field_forbidden(f"{path}.HostPID", "when `hostUsers` is false"))
    if spec.get("hostIPC") is True:
        errs.append(field_forbidden(f"{path}.HostIPC", "when `hostUsers` is false"))
    return errs


def _pod_resource_claims(spec: dict[str, Any], path: str) -> tuple[frozenset[str],
                                                                     list[FieldError]]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, claim in enumerate(get_maps(spec, "resourceClaims")):
        claim_path = f"{path}[{i}]"
        name = get_str(claim, "name")
        if not name:
            errs.append(required(f"{claim_path}.name", ""))
        else:
            if name in names:
                errs.append(duplicate(f"{claim_path}.name", name))
            else:
                names.add(name)
            errs += validate_dns1123_label(name, f"{claim_path}.name")
        sources = [k for k in ("resourceClaimName", "resourceClaimTemplateName") if has(claim, k)]
        if len(sources) > 1:
            errs.append(invalid(claim_path, claim,
                                "at most one of `resourceClaimName` or "
                                "`resourceClaimTemplateName` may be set"))
        elif not sources:
            errs.append(invalid(claim_path, claim,
                                "must specify one of: `resourceClaimName`, "
                                "`resourceClaimTemplateName`"))
        for key in sources:
            value = get_str(claim, key)
            errs += invalid_each(f"{claim_path}.{key}", value, name_is_dns_subdomain(value, False))
    return frozenset(names), errs


def validate_pod_spec(spec: Any, path: str, *, pod_name: str = "",
                      opts: PodOptions | None = None) -> list[FieldError]:
    """Upstream ``ValidatePodSpec`` over a (defaulted) v1 PodSpec."""
    opts = opts or PodOptions()
    spec = as_map(spec)
    errs: list[FieldError] = []
    if not has(spec, "terminationGracePeriodSeconds"):
        errs.append(required(f"{path}.terminationGracePeriodSeconds", ""))
    grace = get_int(spec, "terminationGracePeriodSeconds")
    host_users = get_map(spec, "securityContext").get("hostUsers") is not False
    volumes, vol_errs = validate_volumes(spec.get("volumes"), f"{path}.volumes", pod_name, opts)
    errs += vol_errs
    claim_names, claim_errs = _pod_resource_claims(spec, f"{path}.resourceClaims")
    errs += claim_errs
    errs += _validate_containers(spec, volumes, claim_names, grace, f"{path}.containers",
                                 host_users)
    errs += _validate_init_containers(spec, volumes, claim_names, grace, f"{path}.initContainers",
                                      host_users)
    errs += _validate_ephemeral_containers(spec, volumes, claim_names,
                                           f"{path}.ephemeralContainers", host_users)
    errs += _pod_level_resources(spec, path)
    errs += _host_network_ports(spec, path, opts)
    restart = get_str(spec, "restartPolicy")
    if not restart:
        errs.append(required(f"{path}.restartPolicy", ""))
    elif restart not in RESTART_POLICIES:
        errs.append(not_supported(f"{path}.restartPolicy", restart, RESTART_POLICIES))
    dns_policy = get_str(spec, "dnsPolicy")
    if not dns_policy:
        errs.append(required(f"{path}.dnsPolicy", ""))
    elif dns_policy not in DNS_POLICIES:
        errs.append(not_supported(f"{path}.dnsPolicy", dns_policy, DNS_POLICIES))
    errs += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    errs += _pod_security_context(spec, f"{path}.securityContext")
    for i, ref in enumerate(get_maps(spec, "imagePullSecrets")):
        if set(ref) - {"name"}:
            errs.append(invalid(f"{path}.imagePullSecrets[{i}]", ref, "only name may be set"))
    errs += validate_affinity(spec.get("affinity"), f"{path}.affinity")
    errs += _dns_config(spec, f"{path}.dnsConfig")
    for i, gate in enumerate(get_maps(spec, "readinessGates")):
        ctype = get_str(gate, "conditionType")
        errs += invalid_each(f"{path}.readinessGates[{i}].conditionType", ctype,
                             is_qualified_name(ctype))
    seen_gates: set[str] = set()
    for i, gate in enumerate(get_maps(spec, "schedulingGates")):
        name = get_str(gate, "name")
        errs += invalid_each(f"{path}.schedulingGates[{i}]", name, is_qualified_name(name))
        if name in seen_gates:
            errs.append(duplicate(f"{path}.schedulingGates[{i}]", name))
        seen_gates.add(name)
    errs += _topology_spread(spec.get("topologySpreadConstraints"),
                             f"{path}.topologySpreadConstraints")
    errs += _host_users(spec, path)
    errs += _hostname_override(spec, path)
    for key in ("serviceAccountName", "nodeName", "priorityClassName"):
        value = get_str(spec, key)
        if value:
            errs += invalid_each(f"{path}.{key}", value, name_is_dns_subdomain(value, False))
    deadline = get_int(spec, "activeDeadlineSeconds")
    if deadline is not None and (deadline < 1 or deadline > MAX_INT32):
        errs.append(invalid(f"{path}.activeDeadlineSeconds", deadline,
                            inclusive_range_error(1, MAX_INT32)))
    for key in ("hostname", "subdomain"):
        value = get_str(spec, key)
        if value:
            errs += validate_dns1123_label(value, f"{path}.{key}")
    errs += validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    for i, alias in enumerate(get_maps(spec, "hostAliases")):
        errs += validate_ip(f"{path}.hostAliases[{i}].ip", get_str(alias, "ip"))
        for j, hostname in enumerate(get_strs(alias, "hostnames")):
            errs += validate_dns1123_subdomain(hostname, f"{path}.hostAliases[{i}].hostnames[{j}]")
    if has(spec, "runtimeClassName"):
        runtime = get_str(spec, "runtimeClassName")
        errs += invalid_each(f"{path}.runtimeClassName", runtime,
                             name_is_dns_subdomain(runtime, False))
    if has(spec, "preemptionPolicy"):
        policy = get_str(spec, "preemptionPolicy")
        if not policy:
            errs.append(required(f"{path}.preemptionPolicy", ""))
        elif policy not in ("PreemptLowerPriority", "Never"):
            errs.append(not_supported(f"{path}.preemptionPolicy", policy,
                                      ["PreemptLowerPriority", "Never"]))
    if has(spec, "overhead"):
        errs += validate_resource_requirements({"limits": spec.get("overhead")},
                                               f"{path}.overhead")
    if has(spec, "os"):
        os_name = get_str(get_map(spec, "os"), "name")
        if not os_name:
            errs.append(required(f"{path}.os.name", ""))
        elif os_name not in ("linux", "windows"):
            errs.append(not_supported(f"{path}.os", os_name, ["linux", "windows"]))
    errs += _file_key_ref_volumes(spec, path)
    return errs


def _hostname_override(spec: dict[str, Any], path: str) -> list[FieldError]:
    if not has(spec, "hostnameOverride"):
        return []
    override = get_str(spec, "hostnameOverride")
    errs: list[FieldError] = []
    if spec.get("setHostnameAsFQDN") is True:
        errs.append(field_forbidden(f"{path}.hostnameOverride",
                                    "may not be specified when setHostnameAsFQDN is true"))
    if spec.get("hostNetwork") is True:
        errs.append(field_forbidden(f"{path}.hostnameOverride",
                                    "may not be specified when hostNetwork is true"))
    if len(override) > 64:
        errs.append(too_long(f"{path}.hostnameOverride", "", 64))
    errs += validate_dns1123_subdomain(override, f"{path}.hostnameOverride")
    return errs


def _file_key_ref_volumes(spec: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    volumes = {get_str(v, "name"): v for v in get_maps(spec, "volumes")}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, ctr in enumerate(get_maps(spec, key)):
            for j, var in enumerate(get_maps(ctr, "env")):
                ref = get_map(get_map(var, "valueFrom"), "fileKeyRef")
                if not has(get_map(var, "valueFrom"), "fileKeyRef"):
                    continue
                name = get_str(ref, "volumeName")
                name_path = f"{path}.{key}[{i}].env[{j}].valueFrom.fileKeyRef.volumeName"
                if name not in volumes:
                    errs.append(field_not_found(name_path, name))
                elif not has(volumes[name], "emptyDir"):
                    errs.append(invalid(name_path, name,
                                        "referenced volume must be of type emptyDir"))
    return errs


def _pod_level_resources(spec: dict[str, Any], path: str) -> list[FieldError]:
    if not has(spec, "resources"):
        return []
    res_path = f"{path}.resources"
    if get_str(get_map(spec, "os"), "name") == "windows":
        return [field_forbidden(res_path, "may not be set for a windows pod")]
    resources = get_map(spec, "resources")
    errs: list[FieldError] = []
    if has(resources, "claims"):
        errs.append(field_forbidden(f"{res_path}.claims",
                                    "claims may not be set for Resources at pod-level"))
    errs += validate_resource_requirements(resources, res_path, pod_level=True)
    return errs


# ---------------------------------------------------------------------------- annotations


def _pod_specific_annotations(annotations: dict[str, str], spec: dict[str, Any], path: str,
                              opts: PodOptions) -> list[FieldError]:
    errs: list[FieldError] = []
    if MIRROR_POD_ANNOTATION in annotations and not get_str(spec, "nodeName"):
        errs.append(invalid(key_path(path, MIRROR_POD_ANNOTATION),
                            annotations[MIRROR_POD_ANNOTATION],
                            "must set spec.nodeName if mirror pod annotation is set"))
    if not opts.allow_invalid_pod_deletion_cost and POD_DELETION_COST_ANNOTATION in annotations:
        cost = annotations[POD_DELETION_COST_ANNOTATION]
        if not re.fullmatch(r"[+-]?[0-9]+", cost) or not -(2**31) <= int(cost) < 2**31:
            errs.append(invalid(key_path(path, POD_DELETION_COST_ANNOTATION), cost,
                                "must be a 32bit integer"))
    for key, value in sorted(annotations.items()):
        if key == SECCOMP_POD_ANNOTATION or key.startswith(SECCOMP_CONTAINER_ANNOTATION_PREFIX):
            errs += _annotation_seccomp(value, f"{path}.{key}")
    container_names = {get_str(c, "name") for key in ("initContainers", "containers",
                                                      "ephemeralContainers")
                       for c in get_maps(spec, key)}
    for key, value in sorted(annotations.items()):
        if not key.startswith(APPARMOR_CONTAINER_ANNOTATION_PREFIX):
            continue
        container = key[len(APPARMOR_CONTAINER_ANNOTATION_PREFIX):]
        if container not in container_names:
            errs.append(invalid(key_path(path, key), container, "container not found"))
        if value not in ("", "runtime/default", "unconfined") and not value.startswith(
                "localhost/"):
            errs.append(invalid(key_path(path, key), value,
                                f'invalid AppArmor profile name: "{value}"'))
    return errs


def _annotation_seccomp(profile: str, path: str) -> list[FieldError]:
    if profile in ("runtime/default", "docker/default", "unconfined"):
        return []
    if profile.startswith("localhost/"):
        return validate_local_descending_path(profile[len("localhost/"):], path)
    return [invalid(path, profile, "must be a valid seccomp profile")]


# ---------------------------------------------------------------------------- objects


def _pod_metadata_and_spec(pod: dict[str, Any], opts: PodOptions) -> list[FieldError]:
    meta = get_map(pod, "metadata")
    spec = get_map(pod, "spec")
    errs = validate_object_meta(meta, namespaced=True, name_rule=name_is_dns_subdomain)
    errs += _pod_specific_annotations(str_map(meta.get("annotations")), spec,
                                      "metadata.annotations", opts)
    errs += validate_pod_spec(spec, "spec", pod_name=get_str(meta, "name"), opts=opts)
    if not get_str(spec, "serviceAccountName"):
        for vi, volume in enumerate(get_maps(spec, "volumes")):
            for si, source in enumerate(get_maps(get_map(volume, "projected"), "sources")):
                if has(source, "serviceAccountToken"):
                    errs.append(field_forbidden(
                        f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken",
                        "must not be specified when serviceAccountName is not set"))
    for key in ("containers", "initContainers"):
        for i, ctr in enumerate(get_maps(spec, key)):
            errs += _container_only_for_pod(ctr, f"spec.{key}[{i}]")
    return errs


def validate_pod(pod: Any) -> list[FieldError]:
    """Upstream ``ValidatePodCreate``."""
    pod = as_map(pod)
    opts = PodOptions(resource_is_pod=True)
    errs = _pod_metadata_and_spec(pod, opts)
    spec = get_map(pod, "spec")
    if get_list(spec, "ephemeralContainers"):
        errs.append(field_forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if get_str(spec, "nodeName") and get_list(spec, "schedulingGates"):
        errs.append(field_forbidden("spec.nodeName",
                                    "cannot be set until all schedulingGates have been cleared"))
    return errs


def _container_updates(new: list[dict[str, Any]], old: list[dict[str, Any]],
                       path: str) -> tuple[list[FieldError], bool]:
    if len(new) != len(old):
        return [field_forbidden(path, "pod updates may not add or remove containers")], True
    errs: list[FieldError] = []
    for i, ctr in enumerate(new):
        image = get_str(ctr, "image")
        if not image:
            errs.append(required(f"{path}[{i}].image", ""))
        if image.strip() != image:
            errs.append(invalid(f"{path}[{i}].image", image,
                                "must not have leading or trailing whitespace"))
    return errs, False


def _toleration_key(toleration: dict[str, Any]) -> str:
    # Compare tolerations ignoring tolerationSeconds, which may change.
    return json.dumps({k: v for k, v in toleration.items() if k != "tolerationSeconds"},
                      sort_keys=True)


def validate_pod_update(new: Any, old: Any) -> list[FieldError]:
    """Upstream ``ValidatePodUpdate``: the spec is immutable but for a few fields."""
    new, old = as_map(new), as_map(old)
    opts = PodOptions(resource_is_pod=True)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += _pod_metadata_and_spec(new, opts)
    errs += _annotation_updates(str_map(get_map(new, "metadata").get("annotations")),
                                str_map(get_map(old, "metadata").get("annotations")))
    new_spec, old_spec = get_map(new, "spec"), get_map(old, "spec")
    for key in ("containers", "initContainers"):
        more, stop = _container_updates(get_maps(new_spec, key), get_maps(old_spec, key),
                                        f"spec.{key}")
        errs += more
        if stop:
            return errs
    new_deadline = get_int(new_spec, "activeDeadlineSeconds")
    old_deadline = get_int(old_spec, "activeDeadlineSeconds")
    if new_deadline is not None:
        if new_deadline < 0 or new_deadline > MAX_INT32:
            errs.append(invalid("spec.activeDeadlineSeconds", new_deadline,
                                inclusive_range_error(0, MAX_INT32)))
            return errs
        if old_deadline is not None and old_deadline < new_deadline:
            errs.append(invalid("spec.activeDeadlineSeconds", new_deadline,
                                "must be less than or equal to previous value"))
            return errs
    elif old_deadline is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None,
                            "must not update from a positive integer to nil value"))
    new_tolerations = get_maps(new_spec, "tolerations")
    new_keys = {_toleration_key(t) for t in new_tolerations}
    if any(_toleration_key(t) not in new_keys for t in get_maps(old_spec, "tolerations")):
        errs.append(field_forbidden("spec.tolerations",
                                    "existing toleration can not be modified except its "
                                    "tolerationSeconds"))
    else:
        errs += validate_tolerations(new_tolerations, "spec.tolerations")
    old_gates = {get_str(g, "name") for g in get_maps(old_spec, "schedulingGates")}
    for i, gate in enumerate(get_maps(new_spec, "schedulingGates")):
        if get_str(gate, "name") not in old_gates:
            errs.append(field_forbidden(f"spec.schedulingGates[{i}].name",
                                        "only deletion is allowed, but found new scheduling "
                                        f"gate '{get_str(gate, 'name')}'"))
    munged = _munge_pod_spec(new_spec, old_spec)
    if munged != old_spec:
        errs.append(field_forbidden(
            "spec", "pod updates may not change fields other than "
            + ",".join(UPDATABLE_POD_SPEC_FIELDS) + "\n" + _spec_diff(old_spec, munged)))
    return errs


def _munge_pod_spec(new_spec: dict[str, Any], old_spec: dict[str, Any]) -> dict[str, Any]:
    """The new spec with every field that may change reset to the old value."""
    munged: dict[str, Any] = json.loads(json.dumps(new_spec))
    for key in ("containers", "initContainers"):
        old_list = get_maps(old_spec, key)
        for i, ctr in enumerate(as_list(munged.get(key))):
            if isinstance(ctr, dict) and i < len(old_list):
                if "image" in old_list[i]:
                    ctr["image"] = old_list[i]["image"]
                else:
                    ctr.pop("image", None)
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        if key in old_spec:
            munged[key] = old_spec[key]
        else:
            munged.pop(key, None)
    old_grace = get_int(old_spec, "terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and \
            get_int(munged, "terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if get_list(old_spec, "schedulingGates"):
        # A gated pod may still gain scheduling constraints (nodeSelector, node affinity).
        for key in ("nodeSelector",):
            if key in old_spec:
                munged[key] = old_spec[key]
            else:
                munged.pop(key, None)
        affinity = as_map(munged.get("affinity"))
        old_node_affinity = get_map(old_spec, "affinity").get("nodeAffinity")
        if affinity or old_node_affinity is not None:
            if old_node_affinity is None:
                affinity.pop("nodeAffinity", None)
            else:
                affinity["nodeAffinity"] = old_node_affinity
            if affinity:
                munged["affinity"] = affinity
            else:
                munged.pop("affinity", None)
    return munged


def _spec_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A compact field-by-field diff for the Forbidden message (upstream prints a Go diff)."""
    lines = ["  core.PodSpec{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(f"- \t{key}: {json.dumps(old.get(key), sort_keys=True)},")
            lines.append(f"+ \t{key}: {json.dumps(new.get(key), sort_keys=True)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _annotation_updates(new: dict[str, str], old: dict[str, str]) -> list[FieldError]:
    errs: list[FieldError] = []
    path = "metadata.annotations"
    for key, value in sorted(old.items()):
        if new.get(key) == value and key in new:
            continue
        if key.startswith(APPARMOR_CONTAINER_ANNOTATION_PREFIX):
            errs.append(field_forbidden(key_path(path, key),
                                        "may not remove or update AppArmor annotations"))
        if key == MIRROR_POD_ANNOTATION:
            errs.append(field_forbidden(key_path(path, key),
                                        "may not remove or update mirror pod annotation"))
    for key in sorted(new):
        if key in old:
            continue
        if key.startswith(APPARMOR_CONTAINER_ANNOTATION_PREFIX):
            errs.append(field_forbidden(key_path(path, key), "may not add AppArmor annotations"))
        if key == MIRROR_POD_ANNOTATION:
            errs.append(field_forbidden(key_path(path, key), "may not add mirror pod annotation"))
    return errs


def validate_pod_status_update(new: Any, old: Any) -> list[FieldError]:
    """The checks upstream's ``ValidatePodStatusUpdate`` applies that matter to clients."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    new_status, old_status = get_map(new, "status"), get_map(old, "status")
    node_name = get_str(get_map(old, "spec"), "nodeName")
    if node_name and get_str(get_map(new, "spec"), "nodeName") != node_name:
        errs.append(field_forbidden("status.nominatedNodeName", "may not be set"))
    nominated = get_str(new_status, "nominatedNodeName")
    if nominated:
        errs += invalid_each("status.nominatedNodeName", nominated,
                             name_is_dns_subdomain(nominated, False))
    old_ips = [get_str(ip, "ip") for ip in get_maps(old_status, "podIPs")]
    ips = [get_str(ip, "ip") for ip in get_maps(new_status, "podIPs")]
    for i, ip in enumerate(ips):
        errs += validate_ip(f"status.podIPs[{i}]", ip, old_ips)
    if len(ips) > 1 and (not is_dual_stack(ips) or len(ips) > 2):
        errs.append(invalid("status.podIPs", get_list(new_status, "podIPs"),
                            "may specify no more than one IP for each IP family"))
    host_ips = get_maps(new_status, "hostIPs")
    if host_ips and get_str(new_status, "hostIP") != get_str(host_ips[0], "ip"):
        errs.append(invalid("status.hostIPs[0].ip", get_str(host_ips[0], "ip"),
                            "must be equal to `hostIP`"))
    old_host_ips = [get_str(ip, "ip") for ip in get_maps(old_status, "hostIPs")]
    for i, host_ip in enumerate(host_ips):
        errs += validate_ip(f"status.hostIPs[{i}]", get_str(host_ip, "ip"), old_host_ips)
    return errs


def validate_pod_template_spec(template: Any, path: str, *,
                               opts: PodOptions | None = None) -> list[FieldError]:
    """Upstream ``ValidatePodTemplateSpec`` (labels, annotations, spec)."""
    opts = opts or PodOptions()
    template = as_map(template)
    meta = get_map(template, "metadata")
    spec = get_map(template, "spec")
    meta_path = f"{path}.metadata"
    errs = validate_labels(meta.get("labels"), f"{meta_path}.labels")
    errs += validate_annotations(meta.get("annotations"), f"{meta_path}.annotations")
    errs += _pod_specific_annotations(str_map(meta.get("annotations")), spec,
                                      f"{meta_path}.annotations", opts)
    errs += validate_pod_spec(spec, f"{path}.spec", opts=opts)
    if get_list(spec, "ephemeralContainers"):
        errs.append(field_forbidden(f"{path}.spec.ephemeralContainers",
                                    "ephemeral containers not allowed in pod template"))
    return errs


def validate_pod_template(obj: Any) -> list[FieldError]:
    """The PodTemplate kind."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    errs += validate_pod_template_spec(obj.get("template"), "template")
    return errs


def validate_pod_template_update(new: Any, old: Any) -> list[FieldError]:
    """PodTemplate updates: metadata rules plus full template validation."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += validate_pod_template_spec(get_map(new, "template"), "template")
    return errs


def template_labels_match(selector: Any, template: Any) -> bool:
    """Whether a LabelSelector selects the template's labels."""
    labels = str_map(get_map(get_map(template, "metadata"), "labels"))
    return label_selector_matches(selector, labels)


__all__ = [
    "PodOptions",
    "template_labels_match",
    "validate_access_modes",
    "validate_affinity",
    "validate_container_ports",
    "validate_env",
    "validate_node_selector",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_status_update",
    "validate_pod_template",
    "validate_pod_template_spec",
    "validate_pod_template_update",
    "validate_pod_update",
    "validate_pvc_spec",
    "validate_security_context",
    "validate_tolerations",
    "validate_volumes",
]
