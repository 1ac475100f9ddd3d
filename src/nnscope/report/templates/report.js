/* nnscope report widgets: vanilla JS, no network; data from <script type="application/json"> blocks. */
"use strict";
(function () {
  function readData(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  /* Grey image: pixels[row][col] in 0..255 (or 0..1 when scale01), optionally a black patch drawn over it. */
  function drawGrey(canvas, pixels, scale01) {
    var h = pixels.length, w = pixels[0].length, ctx = canvas.getContext("2d");
    var img = ctx.createImageData(w, h);
    for (var r = 0; r < h; r++) for (var c = 0; c < w; c++) {
      var v = scale01 ? Math.round(255 * pixels[r][c]) : pixels[r][c], i = 4 * (r * w + c);
      img.data[i] = img.data[i + 1] = img.data[i + 2] = v; img.data[i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  /* Diverging blue-white-red colour for v in [-limit, limit]. */
  function diverging(v, limit) {
    var t = Math.max(-1, Math.min(1, v / (limit || 1)));
    var a = Math.abs(t), hi = Math.round(255 * (1 - a));
    return t >= 0 ? [255, hi, hi] : [hi, hi, 255];
  }

  function drawSigned(canvas, map, limit) {
    var h = map.length, w = map[0].length, ctx = canvas.getContext("2d");
    var img = ctx.createImageData(w, h);
    for (var r = 0; r < h; r++) for (var c = 0; c < w; c++) {
      var rgb = diverging(map[r][c], limit), i = 4 * (r * w + c);
      img.data[i] = rgb[0]; img.data[i + 1] = rgb[1]; img.data[i + 2] = rgb[2]; img.data[i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function absMax(maps) {
    var m = 0;
    maps.forEach(function (map) { map.forEach(function (row) { row.forEach(function (v) { m = Math.max(m, Math.abs(v)); }); }); });
    return m || 1;
  }

  /* Ten probability bars, the largest highlighted. */
  function drawBars(container, probabilities) {
    var best = probabilities.indexOf(Math.max.apply(null, probabilities));
    var html = "";
    probabilities.forEach(function (p, k) {
      html += '<span>' + k + '</span><span class="bar' + (k === best ? " top" : "") + '"><span style="width:' +
        (100 * p).toFixed(1) + '%"></span></span><span class="v">' + p.toFixed(4) + "</span>";
    });
    container.innerHTML = html;
  }

  function initFeatureMaps() {
    var data = readData("data-fmap");
    if (!data) return;
    var range = document.getElementById("fmap-rank"), readout = document.getElementById("fmap-readout");
    var canvases = [0, 1].map(function (i) { return document.getElementById("fmap-canvas-" + i); });
    var diffCanvas = document.getElementById("fmap-canvas-diff");
    function show(rank) {
      var row = data.ranking[rank - 1], c = row.channel;
      var a = data.maps[0][c], b = data.maps[1][c];
      var diff = a.map(function (line, r) { return line.map(function (v, k) { return v - b[r][k]; }); });
      var limit = absMax([a, b]);
      drawSigned(canvases[0], a, limit);
      drawSigned(canvases[1], b, limit);
      drawSigned(diffCanvas, diff, absMax([diff]));
      readout.textContent = "rank " + rank + ": channel " + c + ", Cohen's d " + row.effect_size.toFixed(2) +
        " (stronger for '" + row.higher_for + "', mostly at the " + row.where + ")";
      range.value = rank;
    }
    function step(delta) { show(Math.max(1, Math.min(data.ranking.length, Number(range.value) + delta))); }
    range.addEventListener("input", function () { show(Number(range.value)); });
    document.getElementById("fmap-prev").addEventListener("click", function () { step(-1); });
    document.getElementById("fmap-next").addEventListener("click", function () { step(1); });
    show(1);
  }

  function initShift() {
    var data = readData("data-shift");
    if (!data) return;
    var range = document.getElementById("shift-range"), readout = document.getElementById("shift-readout");
    var canvas = document.getElementById("shift-canvas"), bars = document.getElementById("shift-bars");
    function show(shift) {
      var i = data.shifts.indexOf(shift), p = data.probabilities[i], k = data.predictions[i];
      drawGrey(canvas, data.images[i], false);
      drawBars(bars, p);
      var where = shift === 0 ? "not shifted" : Math.abs(shift) + " px " + (shift < 0 ? "left" : "right");
      readout.textContent = where + ": predicted " + k + " (p = " + p[k].toFixed(4) + ")";
      readout.dataset.prediction = k;
    }
    range.addEventListener("input", function () { show(Number(range.value)); });
    show(Number(range.value));
  }

  function initAll() {
    [initFeatureMaps, initShift].forEach(function (init) { init(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll); else initAll();
  window.nnscope = { readData: readData };
})();
