"""Everything that touches sockets: the tap on aiormq and the recorder."""
