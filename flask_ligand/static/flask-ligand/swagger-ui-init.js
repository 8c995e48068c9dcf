// Starts Swagger UI from a static file, so that the page needs no inline script under its content-security policy.
// The page's JSON block gives the spec URL and the options (OPENAPI_SWAGGER_UI_CONFIG over flask-ligand's defaults).
"use strict";
(function () {
  var config = JSON.parse(document.getElementById("flask-ligand-docs-config").textContent);
  window.ui = SwaggerUIBundle(
    Object.assign(
      {
        dom_id: "#swagger-ui",
        layout: "BaseLayout",
        presets: [SwaggerUIBundle.presets.apis],
      },
      config.options,
      { url: config.specUrl }
    )
  );
})();
