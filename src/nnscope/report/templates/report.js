/* nnscope report widgets: the shared widgets (nnscope/frontend/widgets.js, inlined before this script) on the
   data of the page's <script type="application/json"> blocks. Vanilla JS, no network. */
"use strict";
(function () {
  var W = window.nnscopeWidgets, $ = function (id) { return document.getElementById(id); };
  function readData(id) {
    var node = $(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function bytesToUnit(image) { return image.map(function (line) { return line.map(function (v) { return v / 255; }); }); }

  function initFeatureMaps() {
    var data = readData("data-fmap");
    if (!data) return;
    W.featureMapBrowser({ range: $("fmap-rank"), prev: $("fmap-prev"), next: $("fmap-next"), readout: $("fmap-readout"),
      images: [$("fmap-canvas-0"), $("fmap-canvas-1")], diff: $("fmap-canvas-diff") }, data);
  }

  function initShift() {
    var data = readData("data-shift");
    if (!data) return;
    W.shiftSlider({ range: $("shift-range"), image: $("shift-canvas"), bars: $("shift-bars"), readout: $("shift-readout") }, {
      shifts: data.shifts, images: data.images.map(bytesToUnit), probabilities: data.probabilities,
      predictions: data.predictions, classes: data.class_names || W.digitNames(data.probabilities[0].length) });
  }

  function stride(starts) { return starts.length > 1 ? starts[1] - starts[0] : 1; }

  function initExplorer() {
    var data = readData("data-explorer");
    if (!data) return;
    W.occlusionExplorer({ image: $("explorer-image"), bars: $("explorer-bars"), readout: $("explorer-readout"),
      maps: { "class": $("explorer-map") } }, {
      input: bytesToUnit(data.image), patch: data.patch, stride: stride(data.starts), fill: data.fill,
      row_starts: data.row_starts || data.starts, col_starts: data.col_starts || data.starts,
      probabilities: data.probabilities, "class": data.digit,
      classes: data.class_names || W.digitNames(data.probabilities[0][0].length) });
  }

  function initAll() {
    [initFeatureMaps, initShift, initExplorer].forEach(function (init) { init(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll); else initAll();
  window.nnscope = { readData: readData };
})();
