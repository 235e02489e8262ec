"""The Inspector: every step from keypress to reply, for one token of the user's own conversation."""
