"""JupyterHub configuration of coursehub: everything lives in coursehub.hub.config."""

from coursehub.hub.config import configure

configure(c)
