"""Kubernetes label and field selectors, parsed once and matched against plain dict objects.

Pure: no I/O and no store. Syntax errors raise :class:`SelectorError` (a ``ValueError``) whose
message names the selector and the offending part; the API server turns it into a 400.

Label selectors follow ``k8s.io/apimachinery/pkg/labels``: comma-joined requirements, each one
of ``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
``key`` (exists) and ``!key`` (does not exist). ``!=`` and ``notin`` also match objects
without the label, as Kubernetes does.

Structured selectors (``matchLabels`` and ``matchExpressions`` with ``In``, ``NotIn``,
``Exists``, ``DoesNotExist``, as in a NetworkPolicy's ``podSelector``) become the same
:class:`LabelSelector` through :func:`label_selector_from_spec`;
:func:`label_selector_spec_errors` gives the API server's field errors for a malformed one.

Field selectors are comma-joined ``path=value``, ``path==value`` or ``path!=value`` where
``path`` is a dotted path into the object (``metadata.name``, ``spec.nodeName``,
``status.phase``, ``involvedObject.kind`` …). A missing field compares as the empty string,
which is how ``spec.nodeName=`` selects unscheduled pods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "SelectorError",
    "field_value",
    "label_selector_from_spec",
    "label_selector_spec_errors",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A label or field selector that does not parse."""


_LABEL_KEY = re.compile(r"^([a-z0-9A-Z.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class LabelRequirement:
    """One clause of a label selector: ``key <operator> values``."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match objects that lack the label entirely.
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("in", "notin"):
            return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"
        return f"{self.key}{self.operator}{next(iter(self.values))}"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        """True if the object's ``metadata.labels`` satisfy every requirement."""
        if not self.requirements:
            return True
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        """The selector as Kubernetes prints it (requirements sorted by key); ``""`` if empty."""
        ordered = sorted(self.requirements, key=lambda requirement: requirement.key)
        return ",".join(str(requirement) for requirement in ordered)


@dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    negated: bool
    value: str

    def matches(self, obj: dict[str, Any]) -> bool:
        equal = field_value(obj, self.path) == self.value
        return not equal if self.negated else equal


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector; the empty selector matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        return all(requirement.matches(obj) for requirement in self.requirements)


def field_value(obj: dict[str, Any], path: tuple[str, ...] | str) -> str:
    """The field at a dotted ``path`` as a selector sees it: a string, ``""`` when absent."""
    if isinstance(path, str):
        path = tuple(path.split("."))
    current: Any = obj
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return ""
        current = current[part]
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def _split_top_level(selector: str) -> list[str]:
    """Split on commas that are not inside ``( … )``."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced ')' in selector {selector!r}")
        elif char == "," and depth == 0:
            parts.append(selector[start:index])
            start = index + 1
    if depth:
        raise SelectorError(f"unbalanced '(' in selector {selector!r}")
    parts.append(selector[start:])
    return parts


def _check_key(key: str, clause: str) -> str:
    if not _LABEL_KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(f"invalid label key {key!r} in selector clause {clause!r}")
    return key


def _check_value(value: str, clause: str) -> str:
    if not _LABEL_VALUE.match(value) or len(value) > 63:
        raise SelectorError(f"invalid label value {value!r} in selector clause {clause!r}")
    return value


_SET_CLAUSE = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")


def _parse_label_clause(clause: str) -> LabelRequirement:
    text = clause.strip()
    set_match = _SET_CLAUSE.match(text)
    if set_match:
        key = _check_key(set_match["key"], clause)
        values = [value.strip() for value in set_match["values"].split(",")]
        checked = frozenset(_check_value(value, clause) for value in values)
        return LabelRequirement(key, set_match["op"], checked)
    for operator in ("==", "!=", "="):
        if operator in text:
            key, _, value = text.partition(operator)
            normalized = "=" if operator == "==" else operator
            key, value = key.strip(), value.strip()
            return LabelRequirement(
                _check_key(key, clause), normalized, frozenset({_check_value(value, clause)})
            )
    if text.startswith("!"):
        return LabelRequirement(_check_key(text[1:].strip(), clause), "!")
    return LabelRequirement(_check_key(text, clause), "exists")


def parse_label_selector(selector: str | None) -> LabelSelector:
    """Parse a label selector string (``""`` or ``None``: match everything)."""
    if not selector or not selector.strip():
        return LabelSelector()
    clauses = [clause for clause in _split_top_level(selector) if clause.strip()]
    return LabelSelector(tuple(_parse_label_clause(clause) for clause in clauses))


def parse_field_selector(selector: str | None) -> FieldSelector:
    """Parse a field selector string (``""`` or ``None``: match everything)."""
    if not selector or not selector.strip():
        return FieldSelector()
    requirements = []
    for clause in selector.split(","):
        text = clause.strip()
        if not text:
            continue
        for operator in ("==", "!=", "="):
            if operator in text:
                path, _, value = text.partition(operator)
                path = path.strip()
                if not path or any(not part for part in path.split(".")):
                    raise SelectorError(
                        f"invalid field path {path!r} in field selector clause {clause!r}"
                    )
                requirements.append(
                    FieldRequirement(tuple(path.split(".")), operator == "!=", value.strip())
                )
                break
        else:
            raise SelectorError(
                f"invalid field selector clause {clause!r}: expected path=value or path!=value"
            )
    return FieldSelector(tuple(requirements))


# metav1.LabelSelectorOperator -> the operator of a parsed requirement.
_SPEC_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def _label_errors(labels: Any, field: str) -> list[str]:
    if not isinstance(labels, dict):
        return [f"{field}: Invalid value: must be a map of label keys to values"]
    errors = []
    for key, value in labels.items():
        if not _LABEL_KEY.match(str(key)) or len(str(key).rsplit("/", 1)[-1]) > 63:
            errors.append(f'{field}: Invalid value: "{key}": not a valid label key')
        elif not isinstance(value, str) or not _LABEL_VALUE.match(value) or len(value) > 63:
            errors.append(f'{field}[{key}]: Invalid value: "{value}": not a valid label value')
    return errors


def _expression_errors(expression: Any, field: str) -> list[str]:
    if not isinstance(expression, dict):
        return [f"{field}: Invalid value: must be an object with key, operator and values"]
    errors = []
    key, operator = expression.get("key"), expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(key, str) or not _LABEL_KEY.match(key):
        errors.append(f'{field}.key: Invalid value: "{key}": not a valid label key')
    if operator not in _SPEC_OPERATORS:
        errors.append(
            f'{field}.operator: Invalid value: "{operator}": not a valid selector operator'
        )
    elif not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        errors.append(f"{field}.values: Invalid value: must be a list of strings")
    elif operator in ("In", "NotIn") and not values:
        errors.append(
            f"{field}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        )
    elif operator in ("Exists", "DoesNotExist") and values:
        errors.append(
            f"{field}.values: Forbidden: may not be specified when `operator` is 'Exists' or "
            "'DoesNotExist'"
        )
    return errors


def label_selector_spec_errors(spec: Any, field: str) -> list[str]:
    """Field errors in a structured label selector at ``field``; empty when valid."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        return [f"{field}: Invalid value: must be an object (matchLabels, matchExpressions)"]
    errors = _label_errors(spec.get("matchLabels") or {}, f"{field}.matchLabels")
    expressions = spec.get("matchExpressions") or []
    if not isinstance(expressions, list):
        return [*errors, f"{field}.matchExpressions: Invalid value: must be a list"]
    for index, expression in enumerate(expressions):
        errors.extend(_expression_errors(expression, f"{field}.matchExpressions[{index}]"))
    return errors


def label_selector_from_spec(spec: dict | None, field: str = "selector") -> LabelSelector:
    """A structured selector as a :class:`LabelSelector`; ``None`` or ``{}`` matches
    everything. SelectorError (naming ``field``) if it is malformed."""
    errors = label_selector_spec_errors(spec, field)
    if errors:
        raise SelectorError("; ".join(errors))
    spec = spec or {}
    requirements = [
        LabelRequirement(key, "=", frozenset({value}))
        for key, value in (spec.get("matchLabels") or {}).items()
    ]
    for expression in spec.get("matchExpressions") or []:
        operator = _SPEC_OPERATORS[expression["operator"]]
        values = frozenset(expression.get("values") or ())
        requirements.append(LabelRequirement(expression["key"], operator, values))
    return LabelSelector(tuple(requirements))
