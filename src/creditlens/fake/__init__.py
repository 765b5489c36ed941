"""The fake portal: a synthetic org (model), its REST replies (responses) and an HTTPS emulator (server).

Like moto: :mod:`.demo_org` holds the org's state, :mod:`.portal_api` turns requests into the
replies ArcGIS Online sends, and :mod:`.emulator` serves them over HTTPS with sign-in and faults.
The demo connection calls :func:`.portal_api.handle_request` in process.
"""
