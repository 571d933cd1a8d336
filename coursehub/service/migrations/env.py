"""Alembic environment: runs on the connection ``coursehub.service.db`` hands over."""

from alembic import context

from coursehub.service.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
