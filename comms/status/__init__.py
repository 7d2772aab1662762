"""The public status page (issue "Communications", part 1): selectors compute what is public,
caching.py serves it cheaply, views.py and feeds.py render HTML, JSON, Atom and RSS, and
tasks.py delivers subscriber emails (comms.subscribers)."""
