"""``starkrelay demo``: the whole mission on one machine with nothing configured.

``environment`` starts the pieces (Valkey, starksandbox, starkrelay) on 127.0.0.1,
``driver`` plays the payers, ``progress`` draws the live view, ``verdict`` checks Stark Bank's
own records for exactly-once forwarding and a balance that agrees to the cent, and ``runner``
ties them together and decides the exit status.
"""
