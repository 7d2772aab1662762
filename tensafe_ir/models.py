"""The project package has no rows of its own any more: the rate limits' counters moved to
incidents (incidents/models/ratelimit.py), and tensafe_ir/migrations keeps their history."""
