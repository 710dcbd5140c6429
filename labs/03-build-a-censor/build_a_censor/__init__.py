"""Lab 3, Build a censor: the rules, the hidden captures, the grading of a student's censor
offline, under hostile packets and live at the ISP gateway, and the student's starter file.

This folder is on ``sys.path`` when lab 3 is loaded (``lab.py``) or run (``run.py``):
lab folders are not packages (their names start with digits), this package is.
"""
