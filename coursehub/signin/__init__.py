"""Sign-in rules shared by the hub's authenticators (``coursehub.hub.oidc``,
``coursehub.hub.lti``) and the service's identity store (``coursehub.service.identities``):
claims to usernames, courses and roles, in ``coursehub.signin.rules``. Pure, no I/O."""
