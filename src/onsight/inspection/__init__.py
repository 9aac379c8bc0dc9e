"""Production-line inspection: items found on a belt, defects scored against a reference
learned from good items, and barcodes read once per item."""
