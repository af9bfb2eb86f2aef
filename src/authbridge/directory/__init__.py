"""The domain model: users, accounts, roles, bootstrap."""
