"""Admin command groups of the ``pointkeeper`` command, one module each.

Each group calls the same service functions as the admin API, on a store
opened from the configuration (not over HTTP), and is registered in
``pointkeeper.cli``.
"""
