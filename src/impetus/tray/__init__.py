"""The menubar/tray app.

The core (`state`, `client`, `server`, `actions`) has no GUI imports and talks to the server over
HTTP only, so it is testable without a display and the tray stays small. The GUI backends
(`pystray_app`, `rumps_app`) only draw what the core says and call its actions.
"""
