"""What two services say to each other over HTTP, defined once for both sides.

Each module is one internal API: the server validates and answers with these
types, the client parses them, so a renamed field or problem slug fails the
type checker or a test, not production. They import only pydantic, the
standard library and the kit's strict body types (shop.kit.validation).
"""
