/*
 * The page's sentences for its scripts, in the page's language (tipline/web/browser_strings.py).
 * The template renders them into <script type="application/json" id="tipline-strings">, which
 * no browser executes, so the CSP stays strict. TiplineText(key, {name: value}) fills
 * %(name)s placeholders the way the catalogs write them; "%%" is a percent sign.
 */
(function (global) {
  "use strict";
  var table = null;

  function load() {
    if (table) return table;
    var block = document.getElementById("tipline-strings");
    try {
      table = block ? JSON.parse(block.textContent) : {};
    } catch (_e) {
      table = {};
    }
    return table;
  }

  global.TiplineText = function (key, params) {
    var text = load()[key];
    if (typeof text !== "string") return key;
    return text.replace(/%\(([a-z_]+)\)s|%%/g, function (whole, name) {
      if (!name) return "%";
      return params && name in params ? String(params[name]) : whole;
    });
  };
})(window);
