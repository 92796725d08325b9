"""Content negotiation: decoding request bodies (JSON, YAML, the patch types) and choosing a
response form from ``Accept`` (JSON, YAML, ``as=Table``, ``as=PartialObjectMetadata``).

Every decoding failure is a 4xx Status: a malformed body, a body over the 3 MiB limit or a
media type we do not speak never reaches storage and never becomes a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from kubesmith.api import errors, protobuf

MAX_BODY_BYTES = 3 * 1024 * 1024

JSON = "application/json"
YAML = "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
PROTOBUF = "application/vnd.kubernetes.protobuf"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

try:
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _YamlLoader = yaml.SafeLoader


@dataclass(frozen=True, slots=True)
class MediaType:
    type: str
    params: dict[str, str]

    @property
    def as_kind(self) -> str:
        return self.params.get("as", "")


def parse_media_types(header: str) -> list[MediaType]:
    out: list[MediaType] = []
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        fields = [f.strip() for f in part.split(";")]
        params: dict[str, str] = {}
        for f in fields[1:]:
            if "=" in f:
                k, _, v = f.partition("=")
                params[k.strip().lower()] = v.strip().strip('"')
        out.append(MediaType(fields[0].lower(), params))
    return out


def content_type_of(header: str | None) -> str:
    if not header:
        return JSON
    return header.split(";", 1)[0].strip().lower()


def decode_body(body: bytes, content_type: str) -> Any:
    """Decode JSON or YAML into plain Python data, or raise 400/415."""
    if len(body) > MAX_BODY_BYTES:
        raise errors.request_entity_too_large(
            f"limit is {MAX_BODY_BYTES}")
    if not body.strip():
        raise errors.bad_request("the request body is empty")
    if content_type in (JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, "*/*", ""):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise errors.bad_request(f"error decoding JSON: {exc}") from None
    if content_type in (YAML, APPLY_PATCH, "application/x-yaml", "text/yaml"):
        # YAML is a superset of JSON: kubectl sends apply configurations as either.
        try:
            data = yaml.load(body, Loader=_YamlLoader)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {_yaml_problem(exc)}") from None
        except (ValueError, RecursionError) as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None
        _check_alias_expansion(data)
        return data
    raise errors.unsupported_media_type(content_type)


MAX_DECODED_NODES = 2_000_000


def _check_alias_expansion(data: Any) -> None:
    """Refuse YAML whose aliases expand past a sane size ("billion laughs"): the parser
    shares aliased nodes, but everything after it would walk the expanded tree."""
    budget = MAX_DECODED_NODES
    stack = [data]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise errors.bad_request("error decoding YAML: document contains excessive "
                                     "aliasing")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"line {mark.line + 1}: {problem}"
    return str(exc).splitlines()[0] if str(exc) else "invalid YAML"


def decode_object(body: bytes, content_type: str, *, api_version: str = "",
                  kind: str = "") -> dict[str, Any]:
    """Decode a request body that must be an object. Kubernetes protobuf bodies (what
    kubectl's typed commands send) are decoded to the same JSON shape; ``api_version`` and
    ``kind`` name the expected type when the envelope leaves them out."""
    if content_type == PROTOBUF:
        return protobuf.decode_request(body, api_version=api_version, kind=kind)
    data = decode_body(body, content_type)
    if not isinstance(data, dict):
        raise errors.bad_request(
            f"the request body must be an object, not {type(data).__name__}")
    return data


@dataclass(frozen=True, slots=True)
class ResponseForm:
    """How to encode a response: ``format`` is json or yaml; ``as_kind`` is "", "Table",
    "PartialObjectMetadata" or "PartialObjectMetadataList"."""

    format: str = "json"
    as_kind: str = ""
    include_object: str = "Metadata"


def choose_response(accept: str | None, *, allow_table: bool = True) -> ResponseForm:
    """Pick the first acceptable form from ``Accept`` (406 if none is)."""
    if not accept:
        return ResponseForm()
    wanted = parse_media_types(accept)
    for mt in wanted:
        fmt = {"application/json": "json", "application/yaml": "yaml", "*/*": "json",
               "application/*": "json"}.get(mt.type)
        if fmt is None:
            continue
        as_kind = mt.as_kind
        if as_kind:
            group = mt.params.get("g", "")
            version = mt.params.get("v", "")
            if group != "meta.k8s.io" or version not in ("v1", "v1beta1"):
                continue
            if as_kind == "Table" and not allow_table:
                continue
            if as_kind not in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                continue
        return ResponseForm(fmt, as_kind)
    raise errors.not_acceptable(
        "only the following media types are accepted: application/json, application/yaml, "
        "application/json;as=Table;v=v1;g=meta.k8s.io")


def encode(data: Any, form: ResponseForm) -> tuple[bytes, str]:
    if form.format == "yaml":
        return yaml.safe_dump(data, sort_keys=False).encode(), YAML
    return orjson.dumps(data), JSON
