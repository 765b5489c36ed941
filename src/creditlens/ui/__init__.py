"""The Streamlit side of Credit Lens: the only package that imports streamlit.

One module per page (``overview``, ``leaderboard``, ``trends``, ``reconciliation``, ``budgets``) holds that
page's specs, metrics and tables; the pages in ``app_pages/`` lay them out with their own text. Shared
rooms: ``state`` (every session key), ``connection`` (demo and sign-in), ``data`` (per-identity cached
loaders), ``sidebar``, ``period`` (the UTC range the sidebar resolves), ``links`` (query-string parameters),
``charts``, ``common`` (formatting, notices, downloads), ``gate`` (the access gate's widgets) and ``pages``
(the page registry the router reads).
"""
