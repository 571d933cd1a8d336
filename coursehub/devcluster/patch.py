"""The three patch formats of the Kubernetes API, applied to plain JSON-like dicts.

Pure: every function returns a new document and leaves its inputs untouched. Malformed patches
raise :class:`PatchError` (a ``ValueError``) with a message naming the offending part; the
store turns it into a 422/400.

- :func:`apply_merge_patch` — JSON merge patch (RFC 7386, ``application/merge-patch+json``):
  objects merge recursively, ``null`` deletes a key, anything else (lists included) replaces.
- :func:`apply_json_patch` — JSON patch (RFC 6902, ``application/json-patch+json``).
- :func:`apply_strategic_merge_patch` — Kubernetes strategic merge patch
  (``application/strategic-merge-patch+json``): like merge patch, but lists of the core ``v1``
  types that Kubernetes merges by key (``containers`` by ``name``, ``volumeMounts`` by
  ``mountPath``, ``conditions`` by ``type`` …, see :data:`MERGE_KEYS`) are merged item by item,
  and the directives ``$patch`` (``replace``/``delete``/``merge``),
  ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>`` and ``$retainKeys`` are
  honoured. Lists without a known merge key are replaced, as Kubernetes does for atomic lists;
  ``finalizers`` is merged as a set of strings.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

__all__ = [
    "MERGE_KEYS",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
]


class PatchError(ValueError):
    """A patch document that cannot be applied."""


# Field name -> merge keys to try in order (the first one present in the items wins).
# Keyed by field name alone: in core/v1 each of these names means one list type, except
# "ports", which is keyed by containerPort in containers and by port in services.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "env": ("name",),
    "ports": ("containerPort", "port"),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "containerStatuses": ("name",),
    "initContainerStatuses": ("name",),
    "ephemeralContainerStatuses": ("name",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey",),
    "addresses": ("type",),
    "taints": ("key",),
    "images": ("names",),
}

# Lists of scalars that strategic merge patch merges as sets.
SET_LISTS = frozenset({"finalizers"})


def apply_merge_patch(document: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch; returns a new document."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_json_patch(document: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (a list of operations); returns a new document."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(document, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
        raise PatchError(f"the JSON patch cannot be applied: {error}") from error
    except (KeyError, TypeError, IndexError, ValueError) as error:
        raise PatchError(f"the JSON patch is malformed: {error!r}") from error


def apply_strategic_merge_patch(document: Any, patch: Any) -> Any:
    """Apply a Kubernetes strategic merge patch; returns a new document."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    base = copy.deepcopy(document) if isinstance(document, dict) else {}
    return _merge_map(base, patch)


def _merge_map(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r}")

    result = original
    retain_keys = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list")
            result[field] = [item for item in result.get(field) or [] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = _merge_map(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value
    if isinstance(retain_keys, list):
        for key in list(result):
            if key not in retain_keys:
                del result[key]
    return result


def _merge_key_for(field: str, items: list[Any]) -> str | None:
    for candidate in MERGE_KEYS.get(field, ()):
        if any(isinstance(item, dict) and candidate in item for item in items):
            return candidate
    return None


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    original_items = original if isinstance(original, list) else []
    if field in SET_LISTS and all(not isinstance(item, dict | list) for item in patch):
        merged = list(original_items)
        merged.extend(item for item in patch if item not in merged)
        return merged

    replace = any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch)
    merge_key = _merge_key_for(field, [*original_items, *patch])
    if replace or merge_key is None:
        return [
            _strip_directives(item)
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "replace")
        ]

    merged = list(original_items)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(
                f"every item of {field!r} in a strategic merge patch needs the merge key "
                f"{merge_key!r}; got {item!r}"
            )
        position = next(
            (
                index
                for index, existing in enumerate(merged)
                if isinstance(existing, dict) and existing.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del merged[position]
            continue
        if position is None:
            merged.append(_strip_directives(item))
        else:
            merged[position] = _merge_map(merged[position], item)
    return merged


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip_directives(item)
            for key, item in value.items()
            if not key.startswith("$") and item is not None
        }
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value
