"""The class layer: many students' labs made, run, graded and reported as one workshop.

It sits on top of the single-lab pipeline and uses its pieces as they are; nothing
below it knows it exists.
"""
