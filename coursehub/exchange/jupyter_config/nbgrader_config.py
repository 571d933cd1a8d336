"""coursehub: nbgrader's exchange goes to the coursehub service, not a shared folder.

On the Jupyter config path of every notebook server (dev pods: JUPYTER_CONFIG_PATH; images:
/etc/jupyter). The service finds the caller from the server's hub token.
"""

c = get_config()  # noqa: F821
for action, name in {
    "exchange": "CoursehubExchange",
    "list": "CoursehubList",
    "fetch_assignment": "CoursehubFetchAssignment",
    "fetch_feedback": "CoursehubFetchFeedback",
    "submit": "CoursehubSubmit",
    "release_assignment": "CoursehubReleaseAssignment",
    "release_feedback": "CoursehubReleaseFeedback",
    "collect": "CoursehubCollect",
}.items():
    setattr(c.ExchangeFactory, action, f"coursehub.exchange.{name}")
c.Exchange.timezone = "UTC"
