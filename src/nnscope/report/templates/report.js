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

  function initExplorer() {
    var data = readData("data-explorer");
    if (!data) return;
    var canvas = document.getElementById("explorer-image"), mapCanvas = document.getElementById("explorer-map");
    var bars = document.getElementById("explorer-bars"), readout = document.getElementById("explorer-readout");
    var n = data.starts.length, side = data.image.length, scale = canvas.width / side, patch = data.patch;
    var fill = Math.round(255 * data.fill), digit = data.digit;
    var position = { row: -1, col: -1 };
    var trueMap = data.probabilities.map(function (row) { return row.map(function (p) { return p[digit]; }); });

    function drawMap(row, col) {
      var ctx = mapCanvas.getContext("2d"), img = ctx.createImageData(n, n);
      for (var r = 0; r < n; r++) for (var c = 0; c < n; c++) {
        var v = Math.round(255 * trueMap[r][c]), i = 4 * (r * n + c), mark = r === row && c === col;
        img.data[i] = mark ? 255 : v; img.data[i + 1] = mark ? 60 : v; img.data[i + 2] = mark ? 0 : v; img.data[i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }

    function show(row, col) {
      row = Math.max(0, Math.min(n - 1, row)); col = Math.max(0, Math.min(n - 1, col));
      position = { row: row, col: col };
      var top = data.starts[row], left = data.starts[col], ctx = canvas.getContext("2d");
      for (var r = 0; r < side; r++) for (var c = 0; c < side; c++) {
        var inside = r >= top && r < top + patch && c >= left && c < left + patch;
        var v = inside ? fill : data.image[r][c];
        ctx.fillStyle = "rgb(" + v + "," + v + "," + v + ")";
        ctx.fillRect(c * scale, r * scale, scale, scale);
      }
      ctx.strokeStyle = "#ff7f0e"; ctx.lineWidth = 2;
      ctx.strokeRect(left * scale + 1, top * scale + 1, patch * scale - 2, patch * scale - 2);
      var p = data.probabilities[row][col], best = p.indexOf(Math.max.apply(null, p));
      drawBars(bars, p);
      drawMap(row, col);
      readout.textContent = "patch at row " + top + ", column " + left + " (top-left corner): predicted " + best +
        " (p = " + p[best].toFixed(4) + "), P('" + digit + "') = " + p[digit].toFixed(4);
      canvas.dataset.row = row; canvas.dataset.col = col; readout.dataset.prediction = best;
    }

    function fromPointer(event, target, cells, centred) {
      var box = target.getBoundingClientRect();
      var x = (event.clientX - box.left) / box.width * cells, y = (event.clientY - box.top) / box.height * cells;
      if (centred) { x -= patch / 2; y -= patch / 2; }  // the pointer holds the middle of the patch
      show(Math.floor(y), Math.floor(x));
    }
    canvas.addEventListener("pointermove", function (e) { fromPointer(e, canvas, side, true); });
    canvas.addEventListener("pointerdown", function (e) { fromPointer(e, canvas, side, true); });
    mapCanvas.addEventListener("pointermove", function (e) { fromPointer(e, mapCanvas, n, false); });
    canvas.addEventListener("keydown", function (e) {
      var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }, m = moves[e.key];
      if (!m) return;
      e.preventDefault();
      show(position.row + m[0], position.col + m[1]);
    });
    // start where P(true class) is lowest: the most telling position
    var low = { v: 2, r: 0, c: 0 };
    trueMap.forEach(function (line, r) { line.forEach(function (v, c) { if (v < low.v) low = { v: v, r: r, c: c }; }); });
    show(low.r, low.c);
  }

  function initAll() {
    [initFeatureMaps, initShift, initExplorer].forEach(function (init) { init(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll); else initAll();
  window.nnscope = { readData: readData };
})();
