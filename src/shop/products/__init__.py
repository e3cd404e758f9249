"""The products service: catalog, categories, inventory, search and images."""
