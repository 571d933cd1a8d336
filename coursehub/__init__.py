"""coursehub: a GPU Jupyter platform for AI courses.

The package is split by concern (see docs/architecture.md):

- ``coursehub.catalog``: the course model, loading and validation (pure).
- ``coursehub.hub``: JupyterHub configuration, ``CourseSpawner`` and its pure helpers.
- ``coursehub.devcluster``: a one-machine stand-in for the Kubernetes API.
- ``coursehub.dev``: ``coursehub dev``, which runs cluster, proxy and hub together.
- ``coursehub.cli``: the ``coursehub`` command, one module per command group.
"""

__version__ = "0.1.0"
