"""The course catalog: course files in, a validated ``Catalog`` out.

Public interface (the hub codes against it): ``Catalog``, ``CatalogProblem``,
``CatalogError``, ``load_catalog(root)``, ``load_course(path)``, ``CatalogReloader`` and
``with_memberships(catalog, Overlay)`` (the effective catalog: files plus imported rosters
and sign-in memberships);
the model classes live in ``coursehub.catalog.model``; ``CatalogSync`` (files plus overlay,
polled on a process's event loop) in ``coursehub.catalog.sync``. No JupyterHub or
Kubernetes here.
"""

from coursehub.catalog.catalog import Catalog, CatalogError, CatalogProblem
from coursehub.catalog.loader import load_catalog, load_course
from coursehub.catalog.model import Course, Environment, profile_slug
from coursehub.catalog.overlay import Overlay, with_memberships
from coursehub.catalog.reloader import CatalogReloader

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogProblem",
    "CatalogReloader",
    "Course",
    "Environment",
    "Overlay",
    "load_catalog",
    "load_course",
    "profile_slug",
    "with_memberships",
]
