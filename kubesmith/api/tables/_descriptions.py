"""Column descriptions, read from the API's own field documentation.

A Table's ``columnDefinitions[].description`` is the documentation of the field the column
shows, as kube-apiserver's printers quote it. Those texts ship with the 1.37 OpenAPI
definitions we already depend on (:mod:`kubesmith.api.schema`), so they are looked up there
rather than kept as a copy: a key ``<group>/<version>.<Type>.<field>`` names the type the
printer refers to; types of versions no longer served (``extensions/v1beta1`` and the like)
resolve to the same type in the versions that are.
"""

from __future__ import annotations

import functools

from kubesmith.api import schema


@functools.cache
def description(key: str) -> str:
    """The documentation of ``<group>/<version>.<Type>.<field>`` ("" if unknown)."""
    group_version, type_name, field = key.rsplit(".", 2)
    group, _, version = group_version.partition("/")
    if group == "meta":
        candidates = [f"io.k8s.apimachinery.pkg.apis.meta.{version}.{type_name}"]
    else:
        candidates = [f"io.k8s.api.{group}.{version}.{type_name}"]
    names = schema.definitions()
    suffix = "." + type_name
    candidates += sorted(n for n in names
                         if n.endswith(suffix) and n.startswith(f"io.k8s.api.{group}."))
    candidates += sorted(n for n in names if n.endswith(suffix))
    for name in candidates:
        prop = (names.get(name) or {}).get("properties", {}).get(field)
        if isinstance(prop, dict) and isinstance(prop.get("description"), str):
            return str(prop["description"])
    return ""
