"""A course's formgrader (``grader-<course>``): nbgrader's formgrader that shows and grades,
and runs no code.

- ``config``: the formgrader's Jupyter server config as data, its command and environment,
  and ``launch``: how ``coursehub formgrader serve`` starts it, in dev and in the chart.
- ``extension``: coursehub's Jupyter server extension in the formgrader: refuses Autograde
  with a sentence, paths that climb out of a folder, nbconvert, and serves students' files
  with a sandboxing Content-Security-Policy; checks at start that the config took effect.
- ``kernels``: a kernel manager that starts nothing, and no kernel specs.
- ``contents``: the contents API and ``/files`` see the course's ``source/`` and ``release/``
  folders only, and write ``source/`` only.
- ``student_html``: the sanitizer that student markdown and HTML pass through when nbconvert
  renders a submission.
- ``execution``: nbgrader's own commands in a course folder refuse to execute notebooks (the
  course's ``nbgrader_config.py`` names it).

docs/grading.md ("The formgrader") says what it can and cannot do.
"""
