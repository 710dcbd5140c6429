"""Strategy search: a genetic search over Geneva's strategy syntax, each candidate tried
live in a lab host against a censor (issue 11, item 5; Geneva ran its search against real
censors only). ``python -m bench.strategy_search`` runs it in a sealed lab of its own.

    edit.py       positions in an action tree, subtrees taken out and put in, canonical text
    space.py      what the search draws: triggers, actions, tamper values, fragment offsets
    operators.py  mutation and crossover
    fitness.py    a fetch's outcome against the censor's baseline, and what a strategy costs
    evolve.py     the population, selection, elites, the fitness cache, budget and seed
    worker.py     in a lab host: the engine and a curl fetch for each request
    pool.py       the workers of several hosts, evaluating candidates at once
"""
