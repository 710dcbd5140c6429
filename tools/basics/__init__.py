"""Basics every layer above topologies may use: the repository's place, the lab clock,
process helpers. They import nothing of the lab's but the standard library."""
