"""The process and machine around the mount: metrics and crunchstat lines,
the mount point's lifecycle, who keeps it busy, thread names and the
background work queue."""
