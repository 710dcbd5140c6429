"""What every course lab shares: variants, checks, the handout, grading, the environment."""
