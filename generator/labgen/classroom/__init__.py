"""The class layer: many students' copies of one lab. It sits on the single-lab pipeline and
uses its pieces as they are; nothing below it imports it."""
