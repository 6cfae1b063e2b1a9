"""Escape attempts against the grading sandbox: one ex02 submission per attempt."""
