"""Grading settings of the service, from environment variables.

The variables (namespace, pod labels, service URL, parallelism, batch size, masked paths,
uid base) are data in ``coursehub.envvars`` (owner ``GradingSettings``), listed in
docs/grading.md; the defaults below are theirs (a unit test keeps them equal).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from coursehub.envvars import Environment, SettingsError

# The one error of every settings object; the old name stays importable.
GradingSettingsError = SettingsError


@dataclass(frozen=True)
class GradingSettings:
    namespace: str = "default"
    pod_labels: tuple[tuple[str, str], ...] = (("coursehub.io/component", "grading"),)
    service_url: str | None = None  # as grading pods reach it, prefix included
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
        env = Environment(os.environ if environ is None else environ, "GradingSettings")
        labels = env("COURSEHUB_GRADING_POD_LABELS")
        return cls(
            namespace=env("COURSEHUB_NAMESPACE"),
            pod_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
            service_url=env("COURSEHUB_GRADING_SERVICE_URL"),
            parallelism=env("COURSEHUB_GRADING_PARALLELISM"),
            max_batch=env("COURSEHUB_GRADING_MAX_BATCH"),
            masked_paths=env("COURSEHUB_GRADING_MASKED_PATHS") or (),
            uid_base=env("COURSEHUB_GRADING_UID_BASE"),
        )
