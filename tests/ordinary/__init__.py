"""Whole notebooks as ordinary learners leave them (see :mod:`tests.ordinary.corpus`)."""
