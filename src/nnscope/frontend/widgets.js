/* nnscope widgets: the occlusion explorer, the shift slider and the feature-map browser, and the drawing
   helpers they share. One source for the report (inlined in its page), the live page (served beside its
   script) and the notebook widgets (the ES module of nnscope.widgets). Vanilla JS, no network.

   Each widget draws into elements its host made and returns a handle whose update(data) redraws it;
   the data is plain JSON. Images are C x H x W lists (or H x W for one channel) of values in [0, 1]. */
var nnscopeWidgets = (function () {
  "use strict";
  // one colour a class in the predicted-label map and its legend: saturated and far apart (no grey, which would
  // read as an empty map); past ten classes, hues a golden angle apart at two lightnesses
  var LABEL_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#00e5a0",
    "#bcbd22", "#17becf"];
  var ARROWS = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };

  function grey(v) { var g = Math.round(255 * Math.max(0, Math.min(1, v))); return [g, g, g]; }

  function diverging(v, limit) {  // blue (negative), white, red (positive) for v in [-limit, limit]
    var t = Math.max(-1, Math.min(1, v / (limit || 1))), hi = Math.round(255 * (1 - Math.abs(t)));
    return t >= 0 ? [255, hi, hi] : [hi, hi, 255];
  }

  function hex(colour) { return [1, 3, 5].map(function (i) { return parseInt(colour.slice(i, i + 2), 16); }); }

  function labelColour(k, classes) {  // the colour of class k of `classes` (default: ten)
    if ((classes || LABEL_COLOURS.length) <= LABEL_COLOURS.length) return LABEL_COLOURS[k];
    var hue = (k * 137.508) % 360, s = 0.75, l = k % 2 ? 0.42 : 0.6, a = s * Math.min(l, 1 - l);
    var channel = function (n) {
      var m = (n + hue / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(m - 3, 9 - m, 1)))).toString(16).padStart(2, "0");
    };
    return "#" + channel(0) + channel(8) + channel(4);
  }

  function absMax(arrays) {  // the largest |v| of nested lists of numbers (1 when all are 0)
    var m = 0;
    (function walk(a) { if (Array.isArray(a)) a.forEach(walk); else m = Math.max(m, Math.abs(a)); })(arrays);
    return m || 1;
  }

  function pair(v) { return Array.isArray(v) ? v : [v, v]; }  // a patch or stride: one number or [height, width]

  function channels(image) { return Array.isArray(image[0][0]) ? image : [image]; }  // H x W -> 1 x H x W

  function colourAt(image, r, c) {  // [r, g, b] of pixel (r, c) of a C x H x W image: RGB, else the channels' mean
    if (image.length === 3) return [0, 1, 2].map(function (k) { return grey(image[k][r][c])[0]; });
    var total = 0;
    image.forEach(function (channel) { total += channel[r][c]; });
    return grey(total / image.length);
  }

  /* canvas sized h x w, pixel (r, c) coloured colour(r, c) -> [r, g, b] */
  function paint(canvas, h, w, colour) {
    canvas.width = w; canvas.height = h;
    var context = canvas.getContext("2d"), img = context.createImageData(w, h);
    for (var r = 0; r < h; r++) for (var c = 0; c < w; c++) {
      var rgb = colour(r, c), i = 4 * (r * w + c);
      img.data[i] = rgb[0]; img.data[i + 1] = rgb[1]; img.data[i + 2] = rgb[2]; img.data[i + 3] = 255;
    }
    context.putImageData(img, 0, 0);
  }

  function paintImage(canvas, image) {  // a C x H x W (or H x W) image at one canvas pixel per image pixel
    var x = channels(image);
    paint(canvas, x[0].length, x[0][0].length, function (r, c) { return colourAt(x, r, c); });
  }

  function paintSigned(canvas, map, limit) { paint(canvas, map.length, map[0].length, function (r, c) { return diverging(map[r][c], limit); }); }

  /* one bar per class, the largest highlighted; names[k] labels bar k (its index without names) */
  function drawBars(container, probabilities, names) {
    var best = probabilities.indexOf(Math.max.apply(null, probabilities));
    container.textContent = "";
    probabilities.forEach(function (p, k) {
      var name = document.createElement("span"), bar = document.createElement("span"), fill = document.createElement("span");
      var value = document.createElement("span");
      name.textContent = names ? names[k] : String(k); name.title = name.textContent; name.className = "name";
      bar.className = "bar" + (k === best ? " top" : ""); fill.style.width = (100 * p).toFixed(1) + "%";
      value.className = "v"; value.textContent = p.toFixed(4);
      bar.appendChild(fill);
      [name, bar, value].forEach(function (node) { node.setAttribute("role", "listitem"); container.appendChild(node); });
    });
    container.dataset.best = best;
  }

  /* every channel of one layer's output (channels x h x w) as tiles, 16 a row, red positive, blue negative */
  function drawFeatureTiles(canvas, layer) {
    var count = layer.length, h = layer[0].length, w = layer[0][0].length, limit = absMax(layer);
    var columns = Math.min(16, count), rows = Math.ceil(count / columns), gap = 1;
    paint(canvas, rows * (h + gap) - gap, columns * (w + gap) - gap, function (r, c) {
      var tr = Math.floor(r / (h + gap)), tc = Math.floor(c / (w + gap)), y = r % (h + gap), x = c % (w + gap);
      var k = tr * columns + tc;
      if (y >= h || x >= w || k >= count) return [255, 255, 255];
      return diverging(layer[k][y][x], limit);
    });
  }

  function legend(container, names) {  // the colours of the predicted-label map
    container.textContent = "";
    names.forEach(function (name, k) {
      var item = document.createElement("span"), swatch = document.createElement("i");
      swatch.style.background = labelColour(k, names.length); item.appendChild(swatch);
      item.appendChild(document.createTextNode(name));
      container.appendChild(item);
    });
  }

  /* The occlusion explorer. parts: {image: canvas (the input with the patch; pointer and arrow keys move it),
     bars, readout, maps: {"class": canvas, max: canvas, label: canvas} (any of them)}.
     data: {input, patch, stride, fill (a value or one per channel), row_starts, col_starts,
     probabilities (rows x cols x classes), class (the class whose probability the first map shows), classes}. */
  function occlusionExplorer(parts, data) {
    var state = { data: null, row: 0, col: 0 }, maps = parts.maps || {};

    function drawMaps() {
      var d = state.data, rows = d.row_starts.length, cols = d.col_starts.length;
      var values = {
        "class": function (p) { return grey(p[d["class"]]); },
        max: function (p) { return grey(Math.max.apply(null, p)); },
        label: function (p) { return hex(labelColour(p.indexOf(Math.max.apply(null, p)), p.length)); }
      };
      Object.keys(maps).forEach(function (kind) {
        paint(maps[kind], rows, cols, function (r, c) {
          return r === state.row && c === state.col ? [255, 60, 0] : values[kind](d.probabilities[r][c]);
        });
      });
    }

    function show(row, col) {
      var d = state.data;
      if (!d) return;
      row = Math.max(0, Math.min(d.row_starts.length - 1, row)); col = Math.max(0, Math.min(d.col_starts.length - 1, col));
      state.row = row; state.col = col;
      var input = channels(d.input), height = input[0].length, width = input[0][0].length;
      var canvas = parts.image, context = canvas.getContext("2d"), scale = canvas.width / width;
      var top = d.row_starts[row], left = d.col_starts[col], ph = pair(d.patch)[0], pw = pair(d.patch)[1];
      var fill = (Array.isArray(d.fill) ? d.fill : [d.fill]).map(function (v) { return [[v]]; });
      var patched = fill.length === input.length ? fill : input.map(function () { return fill[0]; });
      for (var r = 0; r < height; r++) for (var c = 0; c < width; c++) {
        var inside = r >= top && r < top + ph && c >= left && c < left + pw;
        context.fillStyle = "rgb(" + (inside ? colourAt(patched, 0, 0) : colourAt(input, r, c)).join(",") + ")";
        context.fillRect(c * scale, r * scale, scale, scale);
      }
      context.strokeStyle = "#ff7f0e"; context.lineWidth = 2;
      context.strokeRect(left * scale + 1, top * scale + 1, pw * scale - 2, ph * scale - 2);
      var p = d.probabilities[row][col], best = p.indexOf(Math.max.apply(null, p)), names = d.classes;
      drawBars(parts.bars, p, names);
      drawMaps();
      parts.readout.textContent = "patch at row " + top + ", column " + left + " (top-left corner): predicted " +
        names[best] + " (p = " + p[best].toFixed(4) + "), P('" + names[d["class"]] + "') = " + p[d["class"]].toFixed(4);
      parts.readout.dataset.prediction = best; canvas.dataset.row = row; canvas.dataset.col = col;
    }

    function fromPointer(event, target, onImage) {
      var d = state.data;
      if (!d) return;
      var box = target.getBoundingClientRect(), input = channels(d.input);
      var cellsX = onImage ? input[0][0].length : d.col_starts.length, cellsY = onImage ? input[0].length : d.row_starts.length;
      var x = (event.clientX - box.left) / box.width * cellsX, y = (event.clientY - box.top) / box.height * cellsY;
      if (onImage) {  // on the image the pointer holds the middle of the patch; positions step by the stride
        x = (x - pair(d.patch)[1] / 2) / pair(d.stride)[1]; y = (y - pair(d.patch)[0] / 2) / pair(d.stride)[0];
      }
      show(Math.floor(y), Math.floor(x));
    }

    ["pointermove", "pointerdown"].forEach(function (type) {
      parts.image.addEventListener(type, function (e) { fromPointer(e, parts.image, true); });
      Object.keys(maps).forEach(function (kind) {
        maps[kind].addEventListener(type, function (e) { fromPointer(e, maps[kind], false); });
      });
    });
    parts.image.addEventListener("keydown", function (e) {
      var m = ARROWS[e.key];
      if (!m || !state.data) return;
      e.preventDefault();
      show(state.row + m[0], state.col + m[1]);
    });

    /* new data: on a new grid, start where P(class) is lowest, the most telling position */
    function update(d) {
      var previous = state.data;
      state.data = d;
      if (!previous || previous.row_starts.length !== d.row_starts.length || previous.col_starts.length !== d.col_starts.length) {
        var low = { v: 2, r: 0, c: 0 };
        d.probabilities.forEach(function (line, r) {
          line.forEach(function (p, c) { if (p[d["class"]] < low.v) low = { v: p[d["class"]], r: r, c: c }; });
        });
        state.row = low.r; state.col = low.c;
      }
      show(state.row, state.col);
    }

    function reset() { state.data = null; }  // the next update starts afresh

    if (data) update(data);
    return { update: update, show: show, reset: reset, state: state };
  }

  /* The shift slider. parts: {range (an input type=range over the shifts), image: canvas, bars, readout}.
     data: {shifts, images (one per shift), probabilities, predictions, classes}. */
  function shiftSlider(parts, data) {
    var state = { data: null };
    function show() {
      var d = state.data;
      if (!d) return;
      var dx = Number(parts.range.value), i = d.shifts.indexOf(dx);
      if (i < 0) return;
      var p = d.probabilities[i], k = d.predictions[i];
      paintImage(parts.image, d.images[i]);
      drawBars(parts.bars, p, d.classes);
      parts.readout.textContent = (dx === 0 ? "not shifted" : Math.abs(dx) + " px " + (dx < 0 ? "left" : "right")) +
        ": predicted " + d.classes[k] + " (p = " + p[k].toFixed(4) + ")";
      parts.readout.dataset.prediction = k;
    }
    parts.range.addEventListener("input", show);
    function update(d) {
      state.data = d;
      parts.range.min = d.shifts[0]; parts.range.max = d.shifts[d.shifts.length - 1];
      show();
    }
    if (data) update(data);
    return { update: update, show: show, state: state };
  }

  /* The feature-map browser: one channel at a time, in the order of a ranking, for two images and their
     difference. parts: {range, prev, next (buttons), images: [canvas, canvas], diff: canvas, readout}.
     data: {pair: [name, name], maps: [maps of image 0, maps of image 1] (channels x h x w each),
     ranking: [{channel, effect_size, higher_for, where}, ...]}. */
  function featureMapBrowser(parts, data) {
    var state = { data: null, rank: 1 };
    function show(rank) {
      var d = state.data;
      if (!d) return;
      rank = Math.max(1, Math.min(d.ranking.length, rank));
      state.rank = rank;
      var row = d.ranking[rank - 1], c = row.channel, a = d.maps[0][c], b = d.maps[1][c];
      var diff = a.map(function (line, r) { return line.map(function (v, k) { return v - b[r][k]; }); });
      var limit = absMax([a, b]);
      paintSigned(parts.images[0], a, limit);
      paintSigned(parts.images[1], b, limit);
      paintSigned(parts.diff, diff, absMax(diff));
      parts.readout.textContent = "rank " + rank + ": channel " + c + ", Cohen's d " + row.effect_size.toFixed(2) +
        " (stronger for '" + row.higher_for + "', mostly at the " + row.where + ")";
      parts.range.value = rank;
    }
    parts.range.addEventListener("input", function () { show(Number(parts.range.value)); });
    parts.prev.addEventListener("click", function () { show(state.rank - 1); });
    parts.next.addEventListener("click", function () { show(state.rank + 1); });
    function update(d) {
      state.data = d;
      parts.range.min = 1; parts.range.max = d.ranking.length;
      show(1);
    }
    if (data) update(data);
    return { update: update, show: show, state: state };
  }

  /* the image (H x W) moved right by each of `shifts` pixels (left when negative), the edge column repeated
     (clamp padding): the shift slider's pictures of the live page and the Draw widget */
  function clampShifts(image, shifts) {
    return shifts.map(function (dx) {
      return image.map(function (line) { return line.map(function (v, c) { return line[Math.max(0, Math.min(line.length - 1, c - dx))]; }); });
    });
  }

  function digitNames(count) { var names = []; for (var k = 0; k < count; k++) names.push(String(k)); return names; }

  return {
    grey: grey, diverging: diverging, hex: hex, labelColour: labelColour, absMax: absMax, colourAt: colourAt,
    paint: paint, paintImage: paintImage, drawBars: drawBars, drawFeatureTiles: drawFeatureTiles, legend: legend,
    occlusionExplorer: occlusionExplorer, shiftSlider: shiftSlider, featureMapBrowser: featureMapBrowser,
    clampShifts: clampShifts, digitNames: digitNames
  };
})();
if (typeof window !== "undefined") window.nnscopeWidgets = nnscopeWidgets;
