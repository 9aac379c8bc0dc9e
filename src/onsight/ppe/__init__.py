"""PPE compliance: masks, hi-vis and site-trained PPE detectors, reported as shares."""
