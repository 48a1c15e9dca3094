"""Small Leaflet-side helpers for folium maps, with no JavaScript beyond Leaflet itself."""

from __future__ import annotations

from collections.abc import Sequence

from branca.element import Element, MacroElement
from folium.template import Template


class HtmlControl(MacroElement):
    """A block of our own HTML shown as a Leaflet control (header panels, legends).

    The HTML is written into the page body as it is (readable without JavaScript, and by tests);
    the script then moves it into a Leaflet control at ``position`` and stops clicks and scrolls
    on it from moving the map. ``content`` is trusted HTML: escape user text before passing it."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="gridmap-panel {{ this.css_class }}">{{ this.content }}</div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var el = document.getElementById({{ this.get_name()|tojson }});
            var control = L.control({position: {{ this.position|tojson }}});
            control.onAdd = function () {
                L.DomEvent.disableClickPropagation(el);
                L.DomEvent.disableScrollPropagation(el);
                return el;
            };
            control.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, content: str, position: str = "topleft", css_class: str = ""):
        super().__init__()
        self._name = "HtmlControl"
        self.content = content
        self.position = position
        self.css_class = css_class


class KeepLayerOrder(MacroElement):
    """Keeps ``layers`` stacked in the given order (first at the bottom) when the layer control
    turns one back on. Leaflet draws a re-added layer on top, so without this, switching the
    micro-grid outlines off and on would bury the defects under them (and their tooltips)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.on("overlayadd", function () {
            [{% for layer in this.layers %}{{ layer.get_name() }}{{ ", " if not loop.last }}{% endfor %}]
                .forEach(function (layer) {
                    if ({{ this._parent.get_name() }}.hasLayer(layer)) { layer.bringToFront(); }
                });
        });
        {% endmacro %}
        """
    )

    def __init__(self, layers: Sequence[Element]):
        super().__init__()
        self._name = "KeepLayerOrder"
        self.layers = list(layers)


class AttributionPrefix(MacroElement):
    """Sets the prefix of the map's attribution control (Leaflet's default is a web link)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.setPrefix({{ this.prefix|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, prefix: str):
        super().__init__()
        self._name = "AttributionPrefix"
        self.prefix = prefix


class PageStyle(MacroElement):
    """A ``<style>`` block in the page head (our own CSS; it must not refer to external files)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        """
    )

    def __init__(self, css: str):
        super().__init__()
        self._name = "PageStyle"
        self.css = css
