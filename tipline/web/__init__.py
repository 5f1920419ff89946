"""The web layer: the source app now, the journalist app later.

Views parse the request, call the store, and render; errors become plain
pages through one handler.
"""
