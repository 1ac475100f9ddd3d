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
  var pad = $("pad"), ctx = pad.getContext("2d", { willReadFrequently: true }), cursorCanvas = $("pad-cursor");
  var state = {
    strokes: [],        // each {width, points: [[x, y], ...]} in pad pixels, or {bitmap: ImageData} for a dropped file
    testImage: null,    // {index, label, image} while the input is a test image or the starting picture (sent as it is)
    pen: { x: 140, y: 60, down: false },
    inFlight: false, pending: false, sequence: 0,
    result: null
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

  function drawScaled(context, image, scale) {
    for (var r = 0; r < image[0].length; r++) for (var c = 0; c < image[0][r].length; c++) {
      context.fillStyle = "rgb(" + window.nnscopeWidgets.colourAt(image, r, c).join(",") + ")";
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
    state.result = null; explorer.reset();
    $("readout").textContent = DIGITS ? "draw a digit" : "draw something"; $("readout").dataset.prediction = "";
    ["bars", "explorer-bars", "shift-bars"].forEach(function (id) { if ($(id)) $(id).textContent = ""; });
    $("explorer-readout").textContent = ""; if ($("shift-readout")) $("shift-readout").textContent = "";
  }

  /* ---- drawing the answers: the shared widgets (widgets.js) ---- */
  var W = window.nnscopeWidgets;
  var explorer = W.occlusionExplorer({ image: $("explorer"), bars: $("explorer-bars"), readout: $("explorer-readout"),
    maps: { "class": $("map-class"), max: $("map-max"), label: $("map-label") } });
  Object.defineProperty(state, "position", {  // the explorer's patch position, {row, col}
    get: function () { return { row: explorer.state.row, col: explorer.state.col }; } });
  var slider = $("shift") ? W.shiftSlider({ range: $("shift"), image: $("shifted"), bars: $("shift-bars"),
    readout: $("shift-readout") }) : null;  // the digit page only

  function drawFeatureMaps(maps, note) {
    if ($("fmap-note")) $("fmap-note").textContent = note || "";
    Object.keys(maps).forEach(function (name) {
      var canvas = $("fmap-" + name);
      if (!canvas) return;
      canvas.parentNode.classList.remove("pending");  // drawn: the canvas takes its place (hidden until now)
      W.drawFeatureTiles(canvas, maps[name]);
    });
  }

  function explorerData(result) {  // the answer's occlusion in the explorer's terms
    var o = result.occlusion;
    return { input: result.input, patch: o.patch, stride: o.stride, fill: o.fill, row_starts: o.row_starts || o.starts,
      col_starts: o.col_starts || o.starts, probabilities: o.probabilities, "class": o["class"], classes: CLASSES };
  }

  function show(result, sequence) {
    state.result = result;
    var input = asChannels(result.input);
    W.paint($("seen"), HEIGHT, WIDTH, function (r, c) { return W.colourAt(input, r, c); });
    W.drawBars($("bars"), result.probabilities, CLASSES);
    var k = result.prediction, readout = $("readout");
    readout.textContent = "predicted " + CLASSES[k] + " (p = " + result.probabilities[k].toFixed(4) + ")" +
      (state.testImage && !state.strokes.length && state.testImage.label !== null ? ", test image " + state.testImage.index + " is a " + state.testImage.label : "");
    readout.dataset.prediction = k; readout.dataset.sequence = sequence;
    drawFeatureMaps(result.feature_maps, result.feature_maps_note);
    explorer.update(explorerData(result));
    $("map-class-label").textContent = "P('" + CLASSES[result.occlusion["class"]] + "'), the predicted class";
    if (slider && result.shift) {
      var s = result.shift;
      slider.update({ shifts: s.shifts, images: W.clampShifts(result.input, s.shifts),
        probabilities: s.probabilities, predictions: s.predictions, classes: CLASSES });
    }
    document.body.dataset.analyzed = sequence;
  }

  ["patch", "stride", "fill"].forEach(function (id) {
    $(id).addEventListener("change", function () {
      var input = $(id);
      if (!input.checkValidity()) { showError(id + ": expected a value from " + input.min + " to " + input.max); return; }
      state.result = null; explorer.reset();  // a new grid: the explorer starts afresh
      changed();
    });
  });

  W.legend($("legend"), CLASSES);
  if (!DIGITS) {  // the pad and the explorer take the model's aspect ratio
    $("pad-box").style.aspectRatio = WIDTH + " / " + HEIGHT; $("pad-box").style.height = "auto";
    $("explorer").style.aspectRatio = WIDTH + " / " + HEIGHT; $("explorer").style.height = "auto";
  }
  redraw();
  if (config.start_image) loadStartImage();
  window.nnscopeServe = { state: state, mnistInput: mnistInput, changed: changed,
    labelColour: function (k) { return W.labelColour(k, CLASSES.length); } };
})();
