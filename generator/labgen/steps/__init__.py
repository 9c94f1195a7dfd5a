"""The tutorial's steps and goals as data, resolved for one lab (its hosts and addresses)."""
