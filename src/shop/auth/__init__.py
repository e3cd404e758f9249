"""The auth service: accounts, credentials, tokens and sessions."""
