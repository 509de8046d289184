"""`make bench`: throughput and latency of the product next to a baseline measured in the same run.

See bench/README.md for the method and how to read the numbers.
"""
