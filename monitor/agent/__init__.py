"""Agent mode: bucket next to a hop, ship exact aggregates to a hopwatch server (docs/config.md)."""
