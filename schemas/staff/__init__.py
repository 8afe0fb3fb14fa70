"""Staff accounts, roles, tokens and the audit log of what staff do."""
