"""The orders service: order placement, lifecycle and tracking."""
