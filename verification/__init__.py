"""Gradient verification: a generic finite-difference checker and Hypothesis strategies."""
