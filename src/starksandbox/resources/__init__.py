"""HTTP handlers of the ``/v2`` resources, one module per resource."""
