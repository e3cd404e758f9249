"""The admin dashboard: server-rendered pages for the shop's staff, a client of the
public API through the gateway like any other."""
