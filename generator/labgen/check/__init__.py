"""Check a live lab: replay the tutorial's steps (solve) or inspect a student's work (grade)."""
