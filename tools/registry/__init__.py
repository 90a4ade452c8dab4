"""The registry of operations the operator workflow (and the REST API) may call: typed, role-tagged."""
