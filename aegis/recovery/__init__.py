"""Backup and restore of a deployment's servers: PostgreSQL (pg_dump -Fc / pg_restore) and Redis (its AOF).

What a backup folder holds (`archive`): `manifest.json` (what was taken, when, from which versions),
`postgres.dump` (pg_dump's custom format) and `redis/` (the append-only folder after a rewrite, or an RDB
snapshot when the AOF cannot be reached). A restore puts PostgreSQL back online and Redis's files in place for
a stopped Redis to load at its start.

This package never stops or starts a server, never deletes an operator's files (what a restore replaces is
moved aside) and never puts a password on a command line (it goes to the tools through their environment).
"""
