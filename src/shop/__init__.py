"""An e-commerce backend of four services: gateway, auth, products and orders."""

__version__ = "0.1.0"
