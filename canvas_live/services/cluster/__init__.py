"""What several canvas-live processes share through Redis: the connection, leases, locks."""

from canvas_live.services.cluster.connection import Cluster, ClusterError, redact

__all__ = ["Cluster", "ClusterError", "redact"]
