"""`labgen class serve`: the class in a browser, on top of the class layer.

Each student gets their handout beside a terminal into their own lab box and a "check my
work" button; the teacher gets the live class report and a read-only view of any
student's terminal. Nothing below this package knows it exists.
"""
