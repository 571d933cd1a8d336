"""Grading settings of the service, from environment variables.

- ``COURSEHUB_NAMESPACE``: where grading pods run (``default``).
- ``COURSEHUB_GRADING_POD_LABELS``: JSON labels grading pods carry, the ones their
  NetworkPolicy selects (``{"coursehub.io/component": "grading"}``).
- ``COURSEHUB_GRADING_DATA_CLAIM``: the service's PVC, mounted into grading pods at their
  batch's subPath. Unset (dev): a hostPath of the batch folder.
- ``COURSEHUB_GRADING_PARALLELISM``: grading pods at once; ``auto`` (default) fits the
  cluster's free capacity for the assignment's CPU/GPU request.
- ``COURSEHUB_GRADING_MAX_BATCH``: submissions per pod at most (16); each still runs as a
  user of its own, one after the other.
- ``COURSEHUB_GRADING_MASKED_PATHS``: dev only, ``:``-separated folders hidden from student
  code (the dev state folder and the catalog, which hold solutions and tokens).
- ``COURSEHUB_GRADING_UID_BASE``: first user id given to submissions (200000).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass


class GradingSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class GradingSettings:
    namespace: str = "default"
    pod_labels: tuple[tuple[str, str], ...] = (("coursehub.io/component", "grading"),)
    data_claim: str | None = None
    parallelism: int | None = None  # None: from the cluster's free capacity
    max_batch: int = 16
    masked_paths: tuple[str, ...] = ()
    uid_base: int = 200000

    @property
    def namespaces(self) -> bool:
        """Dev: pods share the developer's machine, whose folders (``masked_paths``) only a
        mount namespace can hide, so grading pods ask for CAP_SYS_ADMIN; production pods
        hold nothing but their inputs and never get it."""
        return bool(self.masked_paths)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> GradingSettings:
        env = os.environ if environ is None else environ
        labels = cls.pod_labels
        if env.get("COURSEHUB_GRADING_POD_LABELS"):
            try:
                parsed = json.loads(env["COURSEHUB_GRADING_POD_LABELS"])
                assert isinstance(parsed, dict) and parsed
                labels = tuple(sorted((str(k), str(v)) for k, v in parsed.items()))
            except (ValueError, AssertionError):
                raise GradingSettingsError(
                    "COURSEHUB_GRADING_POD_LABELS must be a JSON object of labels, e.g. "
                    '{"coursehub.io/component": "grading"}'
                ) from None
        return cls(
            namespace=env.get("COURSEHUB_NAMESPACE") or "default",
            pod_labels=labels,
            data_claim=env.get("COURSEHUB_GRADING_DATA_CLAIM") or None,
            parallelism=_parallelism(env.get("COURSEHUB_GRADING_PARALLELISM", "auto")),
            max_batch=_positive(
                "COURSEHUB_GRADING_MAX_BATCH", env.get("COURSEHUB_GRADING_MAX_BATCH", "16")
            ),
            masked_paths=tuple(
                p for p in env.get("COURSEHUB_GRADING_MASKED_PATHS", "").split(os.pathsep) if p
            ),
            uid_base=_positive(
                "COURSEHUB_GRADING_UID_BASE", env.get("COURSEHUB_GRADING_UID_BASE", "200000")
            ),
        )


def _parallelism(value: str) -> int | None:
    if value.strip().lower() in ("", "auto"):
        return None
    return _positive("COURSEHUB_GRADING_PARALLELISM", value)


def _positive(name: str, value: str) -> int:
    try:
        number = int(value)
        if number < 1:
            raise ValueError
    except ValueError:
        raise GradingSettingsError(f"{name} must be a positive integer, not {value!r}") from None
    return number
