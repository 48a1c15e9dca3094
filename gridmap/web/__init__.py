"""The web pages served by the API (``gridmap.api.routers.pages``): ``/map``, ``/embed``, ``/upload``.

- ``templates/``: the three pages' HTML (placeholders filled by ``gridmap.maps.pages`` for the router
  and the offline screen bundle: the inline JSON config, the static URL prefix, the asset version);
- ``static/js``, ``static/css``: our scripts and styles (no build step; plain ES2017 for the browsers
  found on county office PCs);
- ``static/vendor``: third-party files, unmodified, with their licences (see ``static/vendor/README.md``).
  Leaflet itself is served from ``gridmap/maps/static/leaflet`` (one vendored copy for the project).
"""
