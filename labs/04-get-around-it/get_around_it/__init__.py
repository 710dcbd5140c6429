"""Lab 4, Get around it: the censors a student's variant draws (catalogue.py), the recipes
a submission gives (recipes.py), their replay in a live lab (replay.py), the "why" answers
graded by key words (why.py), and the lab's Mininet CLI commands (cli.py).

This folder is on ``sys.path`` when lab 4 is loaded (``lab.py``): lab folders are not
packages (their names start with digits), this package is.
"""
