"""Command handlers, one module per area; each ``handle_<verb>(ctx, msg)`` is synchronous."""
