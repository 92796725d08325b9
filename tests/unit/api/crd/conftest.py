"""CRDs shaped like real-world ones, shared by the CRD tests.

* ``crontab_crd``: the CronTab of the Kubernetes documentation ("Extend the Kubernetes API
  with CustomResourceDefinitions"), with the scale subresource and printer columns.
* ``certificate_crd``: modelled on cert-manager's ``certificates.cert-manager.io``: nested
  objects, enums, a pattern, a defaulted field, a list-map of conditions and the status
  subresource.

Each fixture returns a factory so every test gets its own deep copy to mutate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

Factory = Callable[[], dict[str, Any]]

CRONTAB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "cronSpec": {"type": "string",
                             "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                "image": {"type": "string"},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
            },
            "required": ["cronSpec", "image"],
        },
        "status": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer"},
                "labelSelector": {"type": "string"},
            },
        },
    },
}

CRONTAB_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com",
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                  "shortNames": ["ct"]},
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": CRONTAB_SCHEMA},
            "subresources": {
                "status": {},
                "scale": {"specReplicasPath": ".spec.replicas",
                          "statusReplicasPath": ".status.replicas",
                          "labelSelectorPath": ".status.labelSelector"},
            },
            "additionalPrinterColumns": [
                {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
        }],
    },
}

_CONDITION = {
    "type": "object",
    "required": ["status", "type"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "observedGeneration": {"type": "integer", "format": "int64"},
    },
}

CERTIFICATE_SCHEMA: dict[str, Any] = {
    "description": "A Certificate resource should be created to ensure an up to date and "
                   "signed X.509 certificate is stored in the Kubernetes Secret resource named "
                   "in `spec.secretName`.",
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["issuerRef", "secretName"],
            "properties": {
                "secretName": {"type": "string", "maxLength": 253,
                               "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "commonName": {"type": "string", "maxLength": 64},
                "dnsNames": {"type": "array", "items": {"type": "string"},
                             "x-kubernetes-list-type": "set"},
                "duration": {"type": "string"},
                "renewBefore": {"type": "string"},
                "revisionHistoryLimit": {"type": "integer", "format": "int32", "minimum": 1},
                "isCA": {"type": "boolean"},
                "usages": {"type": "array", "items": {"type": "string", "enum": [
                    "signing", "digital signature", "key encipherment", "server auth",
                    "client auth"]}},
                "issuerRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "group": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                    },
                },
                "privateKey": {
                    "type": "object",
                    "properties": {
                        "algorithm": {"type": "string", "enum": ["RSA", "ECDSA", "Ed25519"]},
                        "encoding": {"type": "string", "enum": ["PKCS1", "PKCS8"]},
                        "rotationPolicy": {"type": "string", "enum": ["Never", "Always"],
                                           "default": "Always"},
                        "size": {"type": "integer"},
                    },
                },
                "secretTemplate": {
                    "type": "object",
                    "properties": {
                        "annotations": {"type": "object",
                                        "additionalProperties": {"type": "string"}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "subject": {
                    "type": "object",
                    "properties": {"organizations": {"type": "array",
                                                     "items": {"type": "string"}}},
                },
            },
        },
        "status": {
            "type": "object",
            "properties": {
                "conditions": {"type": "array", "items": _CONDITION,
                               "x-kubernetes-list-type": "map",
                               "x-kubernetes-list-map-keys": ["type"]},
                "notAfter": {"type": "string", "format": "date-time"},
                "revision": {"type": "integer"},
            },
        },
    },
}

CERTIFICATE_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "certificates.cert-manager.io",
                 "labels": {"app.kubernetes.io/name": "cert-manager"}},
    "spec": {
        "group": "cert-manager.io",
        "names": {"kind": "Certificate", "listKind": "CertificateList", "plural": "certificates",
                  "shortNames": ["cert", "certs"], "singular": "certificate",
                  "categories": ["cert-manager"]},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": CERTIFICATE_SCHEMA},
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"jsonPath": '.status.conditions[?(@.type=="Ready")].status', "name": "Ready",
                 "type": "string"},
                {"jsonPath": ".spec.secretName", "name": "Secret", "type": "string"},
                {"jsonPath": ".spec.issuerRef.name", "name": "Issuer", "priority": 1,
                 "type": "string"},
                {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
            ],
        }],
    },
}


@pytest.fixture
def crontab_crd() -> Factory:
    """A fresh, valid CronTab CRD per call."""
    return lambda: copy.deepcopy(CRONTAB_CRD)


@pytest.fixture
def certificate_crd() -> Factory:
    """A fresh, valid cert-manager-like Certificate CRD per call."""
    return lambda: copy.deepcopy(CERTIFICATE_CRD)


@pytest.fixture
def crontab_schema() -> Factory:
    return lambda: copy.deepcopy(CRONTAB_SCHEMA)


@pytest.fixture
def certificate_schema() -> Factory:
    return lambda: copy.deepcopy(CERTIFICATE_SCHEMA)
