"""Replaying checks over history: the store, CSV counts, NAB series and simulated days, with
precision, recall and detection delay when incidents are labelled. Above the engine: it drives it."""
