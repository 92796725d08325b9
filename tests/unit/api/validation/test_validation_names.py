"""Name, label and key checks with upstream's exact messages (util/validation)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubesmith.api.validation import names

SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_ERR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
QUALIFIED_ERR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")

Check = Callable[[str], list[str]]
CASES: list[tuple[str, Check, str, list[str]]] = [
    ("subdomain ok", names.is_dns1123_subdomain, "example.com", []),
    ("subdomain upper case", names.is_dns1123_subdomain, "Example.com", [SUBDOMAIN_ERR]),
    ("subdomain too long", names.is_dns1123_subdomain, "a" * 254,
     ["must be no more than 253 characters"]),
    ("label ok", names.is_dns1123_label, "123-abc", []),
    ("label with dots", names.is_dns1123_label, "a.b", ["must not contain dots"]),
    ("label with underscore", names.is_dns1123_label, "a_b", [LABEL_ERR]),
    ("label too long", names.is_dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
    ("dns1035 ok", names.is_dns1035_label, "web-1", []),
    ("dns1035 leading digit", names.is_dns1035_label, "1web", [DNS1035_ERR]),
    ("qualified name ok", names.is_qualified_name, "app.kubernetes.io/name", []),
    ("qualified name bad part", names.is_qualified_name, "-app", [QUALIFIED_ERR]),
    ("qualified name empty prefix", names.is_qualified_name, "/name",
     ["prefix part must be non-empty"]),
    ("qualified name two slashes", names.is_qualified_name, "a/b/c",
     ["a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must "
      "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
      "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
      "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]),
    ("label value empty", names.is_label_value, "", []),
    ("label value bad", names.is_label_value, "-x", [LABEL_VALUE_ERR]),
    ("config map key ok", names.is_config_map_key, "app.properties", []),
    ("config map key dot", names.is_config_map_key, ".", ["must not be '.'"]),
    ("config map key slash", names.is_config_map_key, "a/b",
     ["a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
      "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
      "'[-._a-zA-Z0-9]+')"]),
    ("port name ok", names.is_valid_port_name, "http-80", []),
    ("port name no letter", names.is_valid_port_name, "8080",
     ["must contain at least one letter (a-z)"]),
    ("port name too long", names.is_valid_port_name, "a" * 16,
     ["must be no more than 15 characters"]),
    ("path segment dot dot", names.is_path_segment_name, "..", ["may not be '..'"]),
    ("path segment percent", names.is_path_segment_name, "a%b", ["may not contain '%'"]),
    ("percent", names.is_valid_percent, "10",
     ["a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  "
      "or '93%', regex used for validation is '[0-9]+%')"]),
]


@pytest.mark.parametrize(("check", "value", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_name_checks(check: Check, value: str, expected: list[str]) -> None:
    assert check(value) == expected


def test_port_numbers() -> None:
    assert names.is_valid_port_num(1) == []
    assert names.is_valid_port_num(65536) == ["must be between 1 and 65535, inclusive"]


def test_generate_name_prefixes_may_end_with_a_dash() -> None:
    assert names.name_is_dns_subdomain("web-", True) == []
    assert names.name_is_dns_subdomain("web-", False) == [SUBDOMAIN_ERR]
    assert names.name_is_dns_label("db-", True) == []
