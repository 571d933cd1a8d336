"""Autograding in sandboxed Kubernetes pods.

The service side (``plan``, ``nbgrader_steps``, ``pods``, ``dispatch``) prepares each
submission with nbgrader's own preprocessors, ships only the code cells to grading pods, and
records the returned outputs in nbgrader's gradebook. The pod side (``runner``, ``sandbox``,
``shell``) executes those cells, one forked, unprivileged, rate-limited process per notebook.
``protocol`` is the file format between the two.
"""
