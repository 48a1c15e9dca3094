/*
 * Leaflet.VectorGrid 1.3.0 with Leaflet 1.9: its canvas tile renderer's click handler calls
 * L.DomEvent.fakeStop(), which Leaflet removed in 1.8, so a click on an interactive vector tile
 * throws (Leaflet.VectorGrid issue #274; fixed upstream by PR #288, not released). This replaces
 * the handler with Leaflet 1.9's own L.Canvas._onClick logic (hit-test, then let the map fire the
 * event on the hit layer or on itself), so `interactive: true` works as documented.
 *
 * gridmap's pages do their own hit-testing (hitTest in common.js) and keep their vector grids
 * non-interactive (clicks pass through every overlay to the map); the shim keeps the vendored
 * library safe to use either way.
 */
(() => {
  'use strict';
  if (!window.L || !L.Canvas || !L.Canvas.Tile || L.DomEvent.fakeStop) {
    return;
  }
  L.Canvas.Tile.include({
    _onClick: function (e) {
      if (!this._map) {
        return;
      }
      const point = this._map.mouseEventToLayerPoint(e).subtract(this.getOffset());
      let clicked = null;
      for (const id in this._layers) {
        const layer = this._layers[id];
        if (
          layer.options.interactive &&
          layer._containsPoint(point) &&
          (!(e.type === 'click' || e.type === 'preclick') || !this._map._draggableMoved(layer))
        ) {
          clicked = layer;
        }
      }
      this._fireEvent(clicked ? [clicked] : false, e);
    }
  });
})();

/*
 * Leaflet 1.9.4: a grid layer whose tiles arrive asynchronously (VectorGrid's fetches) may get a
 * tile's "ready" callback after the layer or its map was removed (e.g. the upload page replacing
 * its defects map while tiles load); GridLayer._tileReady then reads this._map._fadeAnimated of
 * null and throws. A tile that arrives for a removed layer is simply dropped.
 */
(() => {
  'use strict';
  if (!window.L || !L.GridLayer) {
    return;
  }
  const tileReady = L.GridLayer.prototype._tileReady;
  L.GridLayer.include({
    _tileReady: function (coords, err, tile) {
      if (!this._map) {
        return;
      }
      return tileReady.call(this, coords, err, tile);
    }
  });
})();
