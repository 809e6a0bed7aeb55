/* Patron admin: draws the charts whose configurations the server renders as JSON.
 * <canvas data-chart="ID"> takes its Chart.js configuration from <script type="application/json" id="ID">.
 * A configuration may set "patronTimeAxis": "x" (or "y") when that axis holds epoch milliseconds,
 * which are then shown as dates. Runs on page load and after every htmx swap. */
(function () {
  "use strict";

  function asDate(ms) {
    var d = new Date(ms);
    return d.toISOString().slice(0, 10);
  }

  function draw(root) {
    if (typeof Chart === "undefined") { return; }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (Chart.getChart(canvas)) { return; }
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) { return; }
      var config = JSON.parse(source.textContent);
      var axis = config.patronTimeAxis;
      delete config.patronTimeAxis;
      config.options = config.options || {};
      config.options.responsive = true;
      config.options.maintainAspectRatio = false;
      config.options.animation = false;
      if (axis) {
        var scales = config.options.scales = config.options.scales || {};
        var scale = scales[axis] = scales[axis] || {};
        scale.type = "linear";
        scale.ticks = scale.ticks || {};
        scale.ticks.callback = function (value) { return asDate(value); };
        scale.ticks.maxTicksLimit = 6;
        scale.ticks.maxRotation = 0;
        var plugins = config.options.plugins = config.options.plugins || {};
        plugins.tooltip = plugins.tooltip || {};
        plugins.tooltip.callbacks = {
          label: function (item) {
            var raw = item.raw;
            if (Array.isArray(raw)) { return (item.dataset.label || "") + " " + asDate(raw[0]) + " → " + asDate(raw[1]); }
            if (raw && typeof raw === "object" && "x" in raw) { return (item.dataset.label || "") + ": " + raw.y; }
            return (item.dataset.label || "") + ": " + item.formattedValue;
          }
        };
      }
      new Chart(canvas, config);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
})();

/* The campaign form shows the fields of the chosen effect only (all of them without JavaScript). */
(function () {
  "use strict";
  function sync(select) {
    var bxgy = select.value === "buy_x_get_y";
    document.querySelectorAll("[data-effect]").forEach(function (el) {
      el.hidden = (el.getAttribute("data-effect") === "bxgy") !== bxgy;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.querySelector("select[data-effect-type]");
    if (!select) { return; }
    sync(select);
    select.addEventListener("change", function () { sync(select); });
  });
})();

/* A field the server marked invalid stops looking invalid as soon as it is edited. */
document.addEventListener("input", function (event) {
  var field = event.target;
  if (!field || !field.getAttribute || field.getAttribute("aria-invalid") !== "true") { return; }
  field.removeAttribute("aria-invalid");
  var label = field.closest("label");
  var error = label && label.querySelector(".error");
  if (error) { error.hidden = true; }
});
