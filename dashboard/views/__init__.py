"""The dashboard's pages. Views parse input, call a selector or a service, and render; the
decisions (what is allowed, what blocks, who may see) come from those, never from here."""
