"""Shared tables of test cases: every relevant test iterates over these instead of copies."""
