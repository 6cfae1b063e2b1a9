"""Instructor tooling: grading sandbox and nbgrader plugins (needs the ``instructor`` extra).

Learners never import this package; ``import rnncourse`` does not load it.
"""
