"""Authentication (passwords, sessions, tokens) and authorization (roles, permissions)."""
