"""Course labs: graded exercises a student does in the lab, and the checker that grades them.

One folder per lab (``labs/NN-slug/``: handout, the lab's definition, its reference
solution); ``labs.framework`` holds what every lab shares (variants, checks, handout,
grading, the sealed environment). ``python -m labs`` is the command line.
"""
