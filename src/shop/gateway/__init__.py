"""The gateway: the only public entry point, routing to the services."""
