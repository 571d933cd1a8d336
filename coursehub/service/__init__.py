"""The coursehub service: assignment exchange, gradebooks and grading jobs, per course.

A JupyterHub service (Tornado + SQLAlchemy) that owns what nbgrader's filesystem exchange
left to a shared folder: identity from the hub token, time from its own clock, metadata in
SQL, files in a content-addressed store. See ``docs/assignments.md``.
"""
