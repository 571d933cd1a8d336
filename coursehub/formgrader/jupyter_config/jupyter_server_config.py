"""A course's formgrader: the data is ``coursehub.formgrader.config.server_config()``.

Named with ``--config`` on the formgrader's command line (``coursehub.formgrader.config``).
"""

from traitlets.config import Config

from coursehub.formgrader.config import server_config

c = get_config()  # noqa: F821
c.merge(Config(server_config()))
