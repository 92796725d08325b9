"""API errors as Kubernetes ``Status`` objects.

Every failure the API server reports is a :class:`StatusError` carrying the HTTP code, the
``reason`` machines branch on, a message for people and optional ``details`` (kind, name,
group and field ``causes``). The constructors below mirror upstream's
``k8s.io/apimachinery/pkg/api/errors`` so messages read exactly as kubectl users expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubesmith.api import gofmt


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field, reported as a ``StatusCause``.

    ``type`` is upstream's cause type (``FieldValueRequired``, ``FieldValueInvalid``,
    ``FieldValueNotSupported``, ``FieldValueDuplicate``, ``FieldValueForbidden``,
    ``FieldValueTooLong``, ``FieldValueTypeInvalid``...), ``field`` the JSON path
    (``spec.containers[0].image``), ``detail`` the sentence after the path.
    """

    type: str
    field: str
    detail: str
    value: Any = None
    has_value: bool = False

    def message(self) -> str:
        """Upstream's ``field.Error.Error()``: ``path: Head[: value][: detail]``.

        As ``ErrorBody`` does: no value for the types that never show one (or when none was
        given, upstream's ``omitValue``); otherwise numbers and booleans print with ``%v``,
        strings with ``%q`` and everything else (``None`` included) as ``json.Marshal``.
        """
        head = {
            "FieldValueRequired": "Required value",
            "FieldValueInvalid": "Invalid value",
            "FieldValueNotSupported": "Unsupported value",
            "FieldValueDuplicate": "Duplicate value",
            "FieldValueForbidden": "Forbidden",
            "FieldValueTooLong": "Too long",
            "FieldValueTooShort": "Too short",
            "FieldValueTooMany": "Too many",
            "FieldValueTooFew": "Too few",
            "FieldValueTypeInvalid": "Invalid value",
            "FieldValueNotFound": "Not found",
            "InternalError": "Internal error",
        }.get(self.type)
        if head is None:
            text = f"Internal error: unhandled error code: {self.type}: please report this"
        elif self.type in ("FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong",
                           "FieldValueTooShort", "InternalError") or not self.has_value:
            text = head
        else:
            text = f"{head}: {_quote(self.value)}"
        if self.detail:
            text += ": " + self.detail
        return f"{self.field}: {text}"


def _quote(value: Any) -> str:
    """A bad value as ``ErrorBody`` prints it (``%v``, ``%q``, else JSON, else a string)."""
    if isinstance(value, (bool, int, float)):
        return gofmt.format_v(value)
    if isinstance(value, str):
        return gofmt.quote(value)
    try:
        return gofmt.marshal(value)
    except (TypeError, ValueError):
        # Upstream falls back to String() (or %#v) when json.Marshal fails.
        return str(value)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", path, detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, detail, value, True)


def not_supported(path: str, value: Any, valid: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(f'"{v}"' for v in valid) if valid else ""
    return FieldError("FieldValueNotSupported", path, detail, value, True)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", path, "", value, True)


def too_long(path: str, value: Any, limit: int) -> FieldError:
    return FieldError(
        "FieldValueTooLong", path, f"may not be more than {limit} bytes", value, False
    )


@dataclass(slots=True)
class StatusError(Exception):
    """An API failure that the server turns into a ``Status`` response."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            status["reason"] = self.reason
        status["code"] = self.code
        if self.details:
            status["details"] = self.details
        return status


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str, causes: list[dict[str, Any]] | None = None,
             retry_after: int = 0) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    if causes:
        details["causes"] = causes
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    return details


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    return StatusError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                       _details(name, group, resource))


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    return StatusError(409, "AlreadyExists",
                       f'{_qualified(resource, group)} "{name}" already exists',
                       _details(name, group, resource))


def conflict(resource: str, name: str, why: str, group: str = "") -> StatusError:
    return StatusError(409, "Conflict",
                       f'Operation cannot be fulfilled on {_qualified(resource, group)} '
                       f'"{name}": {why}',
                       _details(name, group, resource))


STALE_OBJECT = "the object has been modified; please apply your changes to the latest " \
               "version and try again"


def invalid_object(kind: str, name: str, errors: list[FieldError], group: str = "") -> StatusError:
    causes = [{"reason": e.type, "message": e.message().split(": ", 1)[1] if ": " in
               e.message() else e.message(), "field": e.field} for e in errors]
    if len(errors) == 1:
        summary = errors[0].message()
    else:
        summary = "[" + ", ".join(e.message() for e in errors) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return StatusError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}',
                       _details(name, group, kind, causes))


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> StatusError:
    return StatusError(401, "Unauthorized", message)


def forbidden_request(user: str, verb: str, resource: str, group: str, name: str,
                      namespace: str, reason: str = "") -> StatusError:
    """Upstream's wording: ``User "u" cannot get resource "pods" in API group "" ...``."""
    target = f'resource "{resource}"' if resource else "path"
    where = f' in the namespace "{namespace}"' if namespace else \
        (" at the cluster scope" if resource else "")
    msg = f'{resource}{"." + group if group else ""}'
    if name:
        msg += f' "{name}"'
    msg += f' is forbidden: User "{user}" cannot {verb} {target} in API group "{group}"{where}'
    if reason:
        msg += f": {reason}"
    return StatusError(403, "Forbidden", msg, _details(name, group, resource))


def forbidden_operation(resource: str, name: str, message: str, group: str = "") -> StatusError:
    prefix = _qualified(resource, group)
    if name:
        prefix += f' "{name}"'
    return StatusError(403, "Forbidden", f"{prefix} is forbidden: {message}",
                       _details(name, group, resource))


def method_not_supported(resource: str, action: str, group: str = "") -> StatusError:
    return StatusError(405, "MethodNotAllowed",
                       f"{action} is not supported on resources of kind "
                       f'"{_qualified(resource, group)}"',
                       _details("", group, resource))


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def resource_expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def request_entity_too_large(message: str) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: {message}")


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                       f'the body of the request was in an unknown format - accepted media '
                       f'types include: application/json, application/yaml, '
                       f'application/vnd.kubernetes.protobuf; got "{content_type}"')


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def timeout(message: str) -> StatusError:
    return StatusError(504, "Timeout", message)


def too_many_requests(message: str, retry_after: int = 1) -> StatusError:
    return StatusError(429, "TooManyRequests", message, _details("", "", "", None, retry_after),
                       {"Retry-After": str(retry_after)})


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError",
                       f"Internal error occurred: {message}")


def service_unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def not_found_path() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource",
                       {"causes": [{"reason": "UnexpectedServerResponse",
                                    "message": "404 page not found"}]})


# Field-level constructors that the module above lacks: ``forbidden`` is taken by the
# request-level 403 constructor, so the FieldValueForbidden cause gets its own name.
def field_forbidden(path: str, detail: str) -> FieldError:
    """Upstream ``field.Forbidden``: the field may not be set (or changed) this way."""
    return FieldError("FieldValueForbidden", path, detail)


def too_many(path: str, actual: int, limit: int) -> FieldError:
    """Upstream ``field.TooMany``: a list longer than allowed (``actual`` < 0 hides it)."""
    detail = f"must have at most {limit} item" + ("" if limit == 1 else "s")
    if actual < 0:
        return FieldError("FieldValueTooMany", path, detail)
    return FieldError("FieldValueTooMany", path, detail, actual, True)


def field_not_found(path: str, value: Any, detail: str = "") -> FieldError:
    """Upstream ``field.NotFound``: a reference to something that does not exist."""
    return FieldError("FieldValueNotFound", path, detail, value, True)
