"""The bundled demo: config template and preview picker."""
