// Starts ReDoc from a static file, so that the page needs no inline script under its content-security policy.
// The page's JSON block gives the spec URL and the options (OPENAPI_REDOC_CONFIG over flask-ligand's defaults).
"use strict";
(function () {
  var config = JSON.parse(document.getElementById("flask-ligand-docs-config").textContent);
  Redoc.init(config.specUrl, config.options, document.getElementById("redoc"));
})();
