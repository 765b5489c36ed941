"""The fake portal: a synthetic org (model), its REST replies (responses) and an HTTPS emulator (server).

Like moto, state lives in models and the HTTP handler is thin:

- models: :mod:`.demo_org` (members, roles, the usage ledger; with :mod:`.usage_draws`,
  :mod:`.groups`, :mod:`.entry_keys`, :mod:`.org_records`, :mod:`.names`), :mod:`.auth`
  (accounts, tokens, OAuth sign-ins, codes), :mod:`.faults`, :mod:`.request_log`;
- responses: :mod:`.portal_api` (what is confirmed and what is chosen is in its header),
  :mod:`.usage_api`, :mod:`.search_query`, :mod:`.errors`, :mod:`.signin`, :mod:`.oauth_flow`,
  :mod:`.pages`;
- server: :mod:`.routes` (one request in, one reply out), :mod:`.server` (HTTP), :mod:`.wire`,
  :mod:`.certificate`, :mod:`.control`, :mod:`.emulator` (:class:`~.emulator.PortalEmulator`)
  and :mod:`.command` (``creditlens emulator``).

The demo connection calls :func:`.portal_api.handle_request` in process.
"""
