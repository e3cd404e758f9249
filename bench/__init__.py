"""`make bench`: see bench/run.py and bench/README.md."""
