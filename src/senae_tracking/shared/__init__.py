"""Code shared by every service: settings, the event contract, the stage catalog and client factories."""
