/* nnscope serve: the live page. Vanilla JS, no network but this server's API.
   The digit page (nnscope's CNN): the drawing (280 x 280, white ink on black) goes through the MNIST
   preprocessing. The page of another model (--model SPEC): the drawing, sized to the model's H x W,
   is area-averaged to H x W per channel (R, G, B for 3 channels; grey copied to each channel otherwise).
   The result is POSTed to /api/analyze (one request in flight; the latest drawing wins) and every
   panel is redrawn. The model's description (shape, class names, ...) is embedded in the page. */
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var config = JSON.parse($("model-data").textContent);
  var DIGITS = config.page === "digits";  // nnscope's CNN: MNIST preprocessing, test images, shift slider
  var CHANNELS = config.input_shape[0], HEIGHT = config.input_shape[1], WIDTH = config.input_shape[2];
  var SIDE = 28;  // the digit page's model reads 28 x 28 images
  var CLASSES = config.classes;
  // one colour a class in the predicted-label map and its legend: saturated and far apart (no grey, which would
  // read as an empty map); past ten classes, hues a golden angle apart at two lightnesses
  var LABEL_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#00e5a0",
    "#bcbd22", "#17becf"];
  function labelColour(k) {
    if (CLASSES.length <= LABEL_COLOURS.length) return LABEL_COLOURS[k];
    var hue = (k * 137.508) % 360, s = 0.75, l = k % 2 ? 0.42 : 0.6, a = s * Math.min(l, 1 - l);
    var channel = function (n) {
      var m = (n + hue / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(m - 3, 9 - m, 1)))).toString(16).padStart(2, "0");
    };
    return "#" + channel(0) + channel(8) + channel(4);
  }
  var pad = $("pad"), ctx = pad.getContext("2d", { willReadFrequently: true }), cursorCanvas = $("pad-cursor");
  var state = {
    strokes: [],        // each {width, points: [[x, y], ...]} in pad pixels, or {bitmap: ImageData} for a dropped file
    testImage: null,    // {index, label, image} while the input is a test image or the starting picture (sent as it is)
    pen: { x: 140, y: 60, down: false },
    inFlight: false, pending: false, sequence: 0,
    result: null, position: { row: 0, col: 0 }
  };

  /* ---- drawing ---- */
  function redraw() {
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height);
    if (state.testImage) drawScaled(ctx, asChannels(state.testImage.image), pad.width / WIDTH);
    state.strokes.forEach(function (s) {
      if (s.bitmap) { ctx.putImageData(s.bitmap, 0, 0); return; }
      ctx.strokeStyle = s.colour; ctx.fillStyle = s.colour; ctx.lineWidth = s.width; ctx.lineCap = "round"; ctx.lineJoin = "round";
      if (s.points.length === 1) {
        ctx.beginPath(); ctx.arc(s.points[0][0], s.points[0][1], s.width / 2, 0, 2 * Math.PI); ctx.fill(); return;
      }
      ctx.beginPath(); ctx.moveTo(s.points[0][0], s.points[0][1]);
      s.points.slice(1).forEach(function (p) { ctx.lineTo(p[0], p[1]); });
      ctx.stroke();
    });
  }

  function asChannels(image) { return DIGITS ? [image] : image; }  // the digit page's images are 28 x 28, others C x H x W

  function colourAt(image, r, c) {  // [r, g, b] 0-255 of pixel (r, c) of a C x H x W image: RGB, else the channels' mean
    if (image.length === 3) return [0, 1, 2].map(function (k) { return Math.round(255 * Math.max(0, Math.min(1, image[k][r][c]))); });
    var total = 0;
    image.forEach(function (channel) { total += channel[r][c]; });
    return grey(total / image.length);
  }

  function drawScaled(context, image, scale) {
    for (var r = 0; r < image[0].length; r++) for (var c = 0; c < image[0][r].length; c++) {
      context.fillStyle = "rgb(" + colourAt(image, r, c).join(",") + ")";
      context.fillRect(c * scale, r * scale, scale, scale);
    }
  }

  function padPoint(event) {
    var box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) / box.width * pad.width, (event.clientY - box.top) / box.height * pad.height];
  }

  function brushWidth() { return Number($("brush").value); }

  function brushColour() { return $("colour") ? $("colour").value : "#ffffff"; }  // only an RGB model's page has a colour

  function beginStroke(point) {
    state.strokes.push({ width: brushWidth(), colour: brushColour(), points: [point] });
    redraw(); changed();
  }

  function extendStroke(point) {
    var s = state.strokes[state.strokes.length - 1];
    if (!s || !s.points) return;
    s.points.push(point);
    redraw(); changed();
  }

  var drawing = false;
  pad.addEventListener("pointerdown", function (e) {
    e.preventDefault(); pad.setPointerCapture(e.pointerId); drawing = true; beginStroke(padPoint(e));
  });
  pad.addEventListener("pointermove", function (e) { if (drawing) extendStroke(padPoint(e)); });
  ["pointerup", "pointercancel"].forEach(function (type) {
    pad.addEventListener(type, function () { drawing = false; });
  });

  /* keyboard drawing: arrow keys move the pen (Shift: smaller steps), Space lifts or lowers it */
  function drawCursor() {
    var c = cursorCanvas.getContext("2d");
    c.clearRect(0, 0, cursorCanvas.width, cursorCanvas.height);
    if (document.activeElement !== pad) return;
    c.strokeStyle = state.pen.down ? "#f2a900" : "#4aa3ff"; c.lineWidth = 2;
    c.beginPath(); c.arc(state.pen.x, state.pen.y, brushWidth() / 2 + 2, 0, 2 * Math.PI); c.stroke();
    $("pad-state").textContent = (state.pen.down ? "pen down" : "pen up") + " at " + Math.round(state.pen.x) + ", " +
      Math.round(state.pen.y);
  }
  pad.addEventListener("keydown", function (e) {
    var step = e.shiftKey ? 4 : 12;
    var moves = { ArrowUp: [0, -step], ArrowDown: [0, step], ArrowLeft: [-step, 0], ArrowRight: [step, 0] };
    var m = moves[e.key];
    if (m) {
      e.preventDefault();
      state.pen.x = Math.max(0, Math.min(pad.width, state.pen.x + m[0]));
      state.pen.y = Math.max(0, Math.min(pad.height, state.pen.y + m[1]));
      if (state.pen.down) extendStroke([state.pen.x, state.pen.y]);
    } else if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      state.pen.down = !state.pen.down;
      if (state.pen.down) beginStroke([state.pen.x, state.pen.y]);
    } else if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault(); clearAll();
    } else return;
    drawCursor();
  });
  pad.addEventListener("focus", drawCursor);
  pad.addEventListener("blur", function () { state.pen.down = false; drawCursor(); });

  function clearAll() { state.strokes = []; state.testImage = null; redraw(); changed(); }
  $("clear").addEventListener("click", clearAll);
  $("undo").addEventListener("click", undo);
  function undo() {
    if (state.strokes.length) state.strokes.pop(); else state.testImage = null;
    redraw(); changed();
  }
  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "z" && !/INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) { e.preventDefault(); undo(); }
  });

  /* ---- an image file: the digit page draws it grey into the pad, dark ink on light paper turned into light on
     dark; another model's page draws it as it is (in colour for an RGB model, else grey) ---- */
  function loadFile(file) {
    if (!file || !/^image\//.test(file.type)) { showError("image file: expected an image (PNG, JPEG, ...)"); return; }
    var url = URL.createObjectURL(file), img = new Image();
    img.onload = function () {
      var scale = Math.min(pad.width / img.width, pad.height / img.height), w = img.width * scale, h = img.height * scale;
      ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height);
      ctx.drawImage(img, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
      var data = ctx.getImageData(0, 0, pad.width, pad.height), d = data.data, total = 0, n = d.length / 4;
      for (var i = 0; i < d.length; i += 4) total += (d[i] + d[i + 1] + d[i + 2]) / 3;
      var invert = DIGITS && total / n > 127;
      for (i = 0; i < d.length; i += 4) {
        var v = (d[i] + d[i + 1] + d[i + 2]) / 3; v = invert ? 255 - v : v;
        if (CHANNELS !== 3) d[i] = d[i + 1] = d[i + 2] = v;
        d[i + 3] = 255;
      }
      URL.revokeObjectURL(url);
      state.testImage = null; state.strokes = [{ bitmap: data }];
      redraw(); changed();
    };
    img.onerror = function () { URL.revokeObjectURL(url); showError("image file: the browser cannot read it"); };
    img.src = url;
  }
  $("file").addEventListener("change", function (e) { loadFile(e.target.files[0]); });
  var padBox = $("pad-box");
  padBox.addEventListener("dragover", function (e) { e.preventDefault(); padBox.classList.add("dragging"); });
  padBox.addEventListener("dragleave", function () { padBox.classList.remove("dragging"); });
  padBox.addEventListener("drop", function (e) {
    e.preventDefault(); padBox.classList.remove("dragging"); loadFile(e.dataTransfer.files[0]);
  });

  /* ---- a test image from the server ---- */
  function loadTestImage(index) {
    fetch("/api/test-image?index=" + encodeURIComponent(index)).then(readJson).then(function (body) {
      state.testImage = body; state.strokes = []; $("test-index").value = body.index;
      redraw(); changed();
    }).catch(function (error) { showError(error.message); });
  }
  if (DIGITS) {
    $("test-load").addEventListener("click", function () { loadTestImage($("test-index").value); });
    $("test-index").addEventListener("keydown", function (e) { if (e.key === "Enter") loadTestImage(e.target.value); });
    $("test-random").addEventListener("click", function () {
      loadTestImage(Math.floor(Math.random() * (Number($("test-index").max) + 1)));
    });
  }
  function loadStartImage() {  // --image: the starting picture of another model's page, sent as it is
    state.testImage = { index: null, label: null, image: config.start_image }; state.strokes = [];
    redraw(); changed();
  }
  if ($("start-load")) $("start-load").addEventListener("click", loadStartImage);

  /* ---- MNIST preprocessing of the pad ---- */
  function padGrey(k) {  // (280 * 280) values in [0, 1] of the pad's red channel (k: 0), or green (1), blue (2)
    var d = ctx.getImageData(0, 0, pad.width, pad.height).data, out = new Float64Array(pad.width * pad.height);
    k = k || 0;
    for (var i = 0; i < out.length; i++) out[i] = d[4 * i + k] / 255;
    return out;
  }

  function hasInk() {
    var d = ctx.getImageData(0, 0, pad.width, pad.height).data;
    for (var i = 0; i < d.length; i += 4) if (d[i] || d[i + 1] || d[i + 2]) return true;
    return false;
  }

  function modelInput() {  // another model's page: the pad area-averaged to C x H x W, or null while it is empty
    if (!hasInk()) return null;
    var all = { top: 0, left: 0, h: pad.height, w: pad.width }, out = [];
    for (var k = 0; k < CHANNELS; k++) {
      out.push(window.nnscopeInput.resample(padGrey(CHANNELS === 3 ? k : 0), pad.width, all, WIDTH, HEIGHT));
    }
    return out;
  }

  function mnistInput() { return window.nnscopeInput.mnistImage(padGrey(), pad.width); }

  function boxDownsample() {  // a test image with strokes on top: the pad averaged over 10 x 10 blocks, not re-centred
    return window.nnscopeInput.resample(padGrey(), pad.width, { top: 0, left: 0, h: pad.height, w: pad.width }, SIDE, SIDE);
  }

  function currentInput() {
    if (state.testImage && !state.strokes.length) return state.testImage.image;  // exactly as the server sent it
    if (!DIGITS) return modelInput();
    if (state.testImage) return boxDownsample();
    return mnistInput();
  }

  /* ---- talking to the server: one request in flight, the latest input wins ---- */
  function readJson(response) {
    return response.json().then(function (body) {
      if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
      return body;
    });
  }

  function settings() {
    return { patch: Number($("patch").value), stride: Number($("stride").value), fill: Number($("fill").value) };
  }

  function changed() {
    if (state.inFlight) { state.pending = true; return; }
    send();
  }

  function send() {
    var image = currentInput();
    state.pending = false;
    if (!image) { showEmpty(); return; }
    var payload = settings(), sequence = ++state.sequence, started = performance.now();
    payload.image = image;
    state.inFlight = true;
    fetch("/api/analyze", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) })
      .then(readJson)
      .then(function (result) {
        showError("");
        $("timing").textContent = "server " + (1000 * result.seconds).toFixed(0) + " ms, round trip " +
          (performance.now() - started).toFixed(0) + " ms";
        show(result, sequence);
      })
      .catch(function (error) { showError(error.message); })
      .then(function () { state.inFlight = false; if (state.pending) send(); });
  }

  function showError(message) { $("error").textContent = message; }

  function showEmpty() {
    state.result = null;
    $("readout").textContent = DIGITS ? "draw a digit" : "draw something"; $("readout").dataset.prediction = "";
    ["bars", "explorer-bars", "shift-bars"].forEach(function (id) { if ($(id)) $(id).textContent = ""; });
    $("explorer-readout").textContent = ""; if ($("shift-readout")) $("shift-readout").textContent = "";
  }

  /* ---- drawing the answers ---- */
  function drawBars(container, probabilities) {
    var best = probabilities.indexOf(Math.max.apply(null, probabilities));
    container.textContent = "";
    probabilities.forEach(function (p, k) {
      var row = document.createElement("span"), bar = document.createElement("span"), fill = document.createElement("span");
      var value = document.createElement("span");
      row.textContent = CLASSES[k]; row.title = CLASSES[k]; row.className = "name"; bar.className = "bar" + (k === best ? " top" : ""); fill.style.width = (100 * p).toFixed(1) + "%";
      value.className = "v"; value.textContent = p.toFixed(4);
      bar.appendChild(fill);
      [row, bar, value].forEach(function (node) { node.setAttribute("role", "listitem"); container.appendChild(node); });
    });
    container.dataset.best = best;
  }

  function paint(canvas, h, w, colour) {  // colour(r, c) -> [r, g, b]
    canvas.width = w; canvas.height = h;
    var c2 = canvas.getContext("2d"), img = c2.createImageData(w, h);
    for (var r = 0; r < h; r++) for (var c = 0; c < w; c++) {
      var rgb = colour(r, c), i = 4 * (r * w + c);
      img.data[i] = rgb[0]; img.data[i + 1] = rgb[1]; img.data[i + 2] = rgb[2]; img.data[i + 3] = 255;
    }
    c2.putImageData(img, 0, 0);
  }

  function grey(v) { var g = Math.round(255 * Math.max(0, Math.min(1, v))); return [g, g, g]; }

  function diverging(v, limit) {  // blue (negative), white, red (positive)
    var t = Math.max(-1, Math.min(1, v / (limit || 1))), hi = Math.round(255 * (1 - Math.abs(t)));
    return t >= 0 ? [255, hi, hi] : [hi, hi, 255];
  }

  function hex(colour) { return [1, 3, 5].map(function (i) { return parseInt(colour.slice(i, i + 2), 16); }); }

  function drawFeatureMaps(maps, note) {
    if ($("fmap-note")) $("fmap-note").textContent = note || "";
    Object.keys(maps).forEach(function (name) {
      var canvas = $("fmap-" + name);
      if (!canvas) return;
      canvas.parentNode.classList.remove("pending");  // drawn: the canvas takes its place (hidden until now)
      var layer = maps[name], channels = layer.length, h = layer[0].length, w = layer[0][0].length;
      var columns = Math.min(16, channels), rows = Math.ceil(channels / columns), gap = 1, limit = 0;
      layer.forEach(function (m) { m.forEach(function (line) { line.forEach(function (v) { limit = Math.max(limit, Math.abs(v)); }); }); });
      paint(canvas, rows * (h + gap) - gap, columns * (w + gap) - gap, function (r, c) {
        var tr = Math.floor(r / (h + gap)), tc = Math.floor(c / (w + gap)), y = r % (h + gap), x = c % (w + gap);
        var k = tr * columns + tc;
        if (y >= h || x >= w || k >= channels) return [255, 255, 255];
        return diverging(layer[k][y][x], limit);
      });
    });
  }

  function colStarts(occlusion) { return occlusion.col_starts || occlusion.starts; }  // the digit page's grid is square

  function drawMaps(occlusion) {
    var rows = occlusion.starts.length, cols = colStarts(occlusion).length, mark = state.position;
    function marked(colour) {
      return function (r, c) { return r === mark.row && c === mark.col ? [255, 60, 0] : colour(r, c); };
    }
    paint($("map-class"), rows, cols, marked(function (r, c) { return grey(occlusion.true_class_probability[r][c]); }));
    paint($("map-max"), rows, cols, marked(function (r, c) { return grey(occlusion.max_probability[r][c]); }));
    paint($("map-label"), rows, cols, marked(function (r, c) {
      return hex(labelColour(occlusion.predicted_label[r][c]));
    }));
    $("map-class-label").textContent = "P('" + CLASSES[occlusion["class"]] + "'), the predicted class";
  }

  function showExplorer(row, col) {
    var result = state.result;
    if (!result) return;
    var o = result.occlusion, cols = colStarts(o);
    row = Math.max(0, Math.min(o.starts.length - 1, row)); col = Math.max(0, Math.min(cols.length - 1, col));
    state.position = { row: row, col: col };
    var canvas = $("explorer"), c2 = canvas.getContext("2d"), scale = canvas.width / WIDTH;
    var top = o.starts[row], left = cols[col], input = asChannels(result.input);
    var fill = (Array.isArray(o.fill) ? o.fill : [o.fill]).map(function (v) { return [[v]]; });
    var patched = fill.length === input.length ? fill : input.map(function () { return fill[0]; });
    for (var r = 0; r < HEIGHT; r++) for (var c = 0; c < WIDTH; c++) {
      var inside = r >= top && r < top + o.patch && c >= left && c < left + o.patch;
      c2.fillStyle = "rgb(" + (inside ? colourAt(patched, 0, 0) : colourAt(input, r, c)).join(",") + ")";
      c2.fillRect(c * scale, r * scale, scale, scale);
    }
    c2.strokeStyle = "#ff7f0e"; c2.lineWidth = 2;
    c2.strokeRect(left * scale + 1, top * scale + 1, o.patch * scale - 2, o.patch * scale - 2);
    var p = o.probabilities[row][col], best = p.indexOf(Math.max.apply(null, p));
    drawBars($("explorer-bars"), p);
    drawMaps(o);
    var readout = $("explorer-readout");
    readout.textContent = "patch at row " + top + ", column " + left + " (top-left corner): predicted " + CLASSES[best] +
      " (p = " + p[best].toFixed(4) + "), P('" + CLASSES[o["class"]] + "') = " + p[o["class"]].toFixed(4);
    readout.dataset.prediction = best; canvas.dataset.row = row; canvas.dataset.col = col;
  }

  function explorerFrom(event, target, cellsX, cellsY, centred) {
    var box = target.getBoundingClientRect(), o = state.result && state.result.occlusion;
    if (!o) return;
    var x = (event.clientX - box.left) / box.width * cellsX, y = (event.clientY - box.top) / box.height * cellsY;
    if (centred) {  // on the image the pointer holds the middle of the patch; positions step by the stride
      x = (x - o.patch / 2) / o.stride; y = (y - o.patch / 2) / o.stride;
    }
    showExplorer(Math.floor(y), Math.floor(x));
  }
  var explorer = $("explorer");
  ["pointermove", "pointerdown"].forEach(function (type) {
    explorer.addEventListener(type, function (e) { explorerFrom(e, explorer, WIDTH, HEIGHT, true); });
    ["map-class", "map-max", "map-label"].forEach(function (id) {
      $(id).addEventListener(type, function (e) { explorerFrom(e, $(id), $(id).width, $(id).height, false); });
    });
  });
  explorer.addEventListener("keydown", function (e) {
    var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }, m = moves[e.key];
    if (!m) return;
    e.preventDefault();
    showExplorer(state.position.row + m[0], state.position.col + m[1]);
  });

  function shiftClamp(image, dx) {  // moved right by dx pixels, the edge column repeated (clamp padding)
    return image.map(function (line) {
      return line.map(function (v, c) { return line[Math.max(0, Math.min(SIDE - 1, c - dx))]; });
    });
  }

  function showShift() {
    var result = state.result;
    if (!result || !result.shift) return;  // the digit page only
    var s = result.shift, dx = Number($("shift").value), i = s.shifts.indexOf(dx);
    var moved = shiftClamp(result.input, dx), p = s.probabilities[i], k = s.predictions[i];
    paint($("shifted"), SIDE, SIDE, function (r, c) { return grey(moved[r][c]); });
    drawBars($("shift-bars"), p);
    var readout = $("shift-readout");
    readout.textContent = (dx === 0 ? "not shifted" : Math.abs(dx) + " px " + (dx < 0 ? "left" : "right")) +
      ": predicted " + CLASSES[k] + " (p = " + p[k].toFixed(4) + ")";
    readout.dataset.prediction = k;
  }
  if ($("shift")) $("shift").addEventListener("input", showShift);

  function show(result, sequence) {
    var previous = state.result;
    state.result = result;
    var input = asChannels(result.input);
    paint($("seen"), HEIGHT, WIDTH, function (r, c) { return colourAt(input, r, c); });
    drawBars($("bars"), result.probabilities);
    var k = result.prediction, readout = $("readout");
    readout.textContent = "predicted " + CLASSES[k] + " (p = " + result.probabilities[k].toFixed(4) + ")" +
      (state.testImage && !state.strokes.length && state.testImage.label !== null ? ", test image " + state.testImage.index + " is a " + state.testImage.label : "");
    readout.dataset.prediction = k; readout.dataset.sequence = sequence;
    drawFeatureMaps(result.feature_maps, result.feature_maps_note);
    var o = result.occlusion, n = o.starts.length, m = colStarts(o).length;
    if (!previous || previous.occlusion.starts.length !== n || colStarts(previous.occlusion).length !== m) {  // a new grid: start where P(predicted) is lowest
      var low = { v: 2, r: 0, c: 0 };
      o.true_class_probability.forEach(function (line, r) { line.forEach(function (v, c) { if (v < low.v) low = { v: v, r: r, c: c }; }); });
      state.position = { row: low.r, col: low.c };
    }
    showExplorer(state.position.row, state.position.col);
    showShift();
    document.body.dataset.analyzed = sequence;
  }

  ["patch", "stride", "fill"].forEach(function (id) {
    $(id).addEventListener("change", function () {
      var input = $(id);
      if (!input.checkValidity()) { showError(id + ": expected a value from " + input.min + " to " + input.max); return; }
      if (state.result) { state.result = null; }  // a new grid: the explorer starts afresh
      changed();
    });
  });

  var legend = $("legend");
  CLASSES.forEach(function (name, k) {
    var item = document.createElement("span"), swatch = document.createElement("i");
    swatch.style.background = labelColour(k); item.appendChild(swatch);
    item.appendChild(document.createTextNode(name));
    legend.appendChild(item);
  });
  if (!DIGITS) {  // the pad and the explorer take the model's aspect ratio
    $("pad-box").style.aspectRatio = WIDTH + " / " + HEIGHT; $("pad-box").style.height = "auto";
    $("explorer").style.aspectRatio = WIDTH + " / " + HEIGHT; $("explorer").style.height = "auto";
  }
  redraw();
  if (config.start_image) loadStartImage();
  window.nnscopeServe = { state: state, mnistInput: mnistInput, changed: changed, labelColour: labelColour };
})();
