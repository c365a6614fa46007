"""The site as a whole: what spans every app (the demo). The top layer: it may import any app,
and no app imports it."""
