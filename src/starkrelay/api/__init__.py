"""The HTTP edge: the app factory for every role, the FastAPI dependencies, and the routes
for the webhook, health, metrics and status. Knows the features; no feature knows it.
"""
