"""The shared kit every service builds on.

Import from the submodules (``shop.kit.config``, ``shop.kit.db``, ...): this
package deliberately re-exports nothing, so that a process which has no
database (the gateway) never loads the database stack.
"""
