/* nnscope's notebook widgets (anywidget): the ES module nnscope.widgets sends to the notebook, after the MNIST
   preprocessing (serve-input.js) and the shared widgets (widgets.js). The model's state: kind ("draw",
   "occlusion", "shift", "fmaps"), data (what the widget shows) and, for Draw, config (the model's description),
   request (the input the front end sends) and result (the kernel's answer, the JSON of POST /api/analyze).
   Every state is saved with the notebook, so a saved widget shows its last answer without a kernel. */
var W = nnscopeWidgets;

function element(tag, attributes, parent) {
  var node = document.createElement(tag);
  Object.keys(attributes || {}).forEach(function (key) {
    if (key === "text") node.textContent = attributes[key]; else node.setAttribute(key, attributes[key]);
  });
  if (parent) parent.appendChild(node);
  return node;
}

function panel(parent, label) {
  var box = element("div", { "class": "panel" }, parent);
  var content = element("div", {}, box);
  if (label) element("span", { "class": "label", text: label }, box);
  return content;
}

/* the explorer's elements: the occluded input, the three maps, the bars and the readout */
function explorerParts(root, width, height) {  // the image with the patch and its bars, then the three maps
  var row = element("div", { "class": "widget-row" }, root), scale = Math.max(1, Math.floor(224 / Math.max(width, height)));
  var parts = {
    image: element("canvas", { "class": "explorer", width: width * scale, height: height * scale, tabindex: "0", role: "img",
      "aria-label": "the input with the patch; arrow keys move the patch" }, panel(row, "occluded image (point or use the arrow keys)")),
    maps: {}
  };
  parts.bars = element("div", { "class": "bars explorer-bars", role: "list" }, panel(row, "probabilities with the patch"));
  parts.readout = element("p", { "class": "readout explorer-readout", "aria-live": "polite" }, root);
  var maps = element("div", { "class": "widget-row" }, root);
  [["class", "P(class) by position"], ["max", "highest probability"], ["label", "predicted label"]].forEach(function (m) {
    parts.maps[m[0]] = element("canvas", { "class": "map", "data-map": m[0], width: 21, height: 21, role: "img" }, panel(maps, m[1]));
  });
  return parts;
}

function sliderParts(root) {
  var controls = element("div", { "class": "controls" }, root);
  element("label", { text: "shift (px)" }, controls);
  var parts = { range: element("input", { type: "range", "class": "shift", step: "1", value: "0" }, controls) };
  var row = element("div", { "class": "widget-row" }, root);
  parts.image = element("canvas", { "class": "shifted", width: 28, height: 28, role: "img" }, panel(row, "shifted input"));
  parts.bars = element("div", { "class": "bars shift-bars", role: "list" }, panel(row));
  parts.readout = element("p", { "class": "readout shift-readout", "aria-live": "polite" }, root);
  return parts;
}

function browserParts(root, pair) {
  var controls = element("div", { "class": "controls" }, root);
  var parts = { prev: element("button", { type: "button", "aria-label": "previous channel", text: "◀" }, controls) };
  element("label", { text: "rank" }, controls);
  parts.range = element("input", { type: "range", step: "1", value: "1" }, controls);
  parts.next = element("button", { type: "button", "aria-label": "next channel", text: "▶" }, controls);
  parts.readout = element("span", { "class": "readout fmap-readout", "aria-live": "polite" }, controls);
  var row = element("div", { "class": "widget-row" }, root);
  parts.images = [0, 1].map(function (i) { return element("canvas", { "class": "fmap", role: "img" }, panel(row, "the '" + pair[i] + "'")); });
  parts.diff = element("canvas", { "class": "fmap", role: "img" }, panel(row, "difference '" + pair[0] + "' − '" + pair[1] + "'"));
  return parts;
}

function renderOcclusion(model, root) {
  var data = model.get("data"), input = Array.isArray(data.input[0][0]) ? data.input[0] : data.input;
  var explorer = W.occlusionExplorer(explorerParts(root, input[0].length, input.length), data);
  W.legend(element("div", { "class": "legend" }, root), data.classes);
  model.on("change:data", function () { explorer.update(model.get("data")); });
}

function renderShift(model, root) {
  var slider = W.shiftSlider(sliderParts(root), model.get("data"));
  model.on("change:data", function () { slider.update(model.get("data")); });
}

function renderFeatureMaps(model, root) {
  var data = model.get("data"), browser = W.featureMapBrowser(browserParts(root, data.pair), data);
  model.on("change:data", function () { browser.update(model.get("data")); });
}

/* Draw: a pad (white ink on black) whose input goes to the kernel, one request in flight, the latest wins */
function renderDraw(model, root) {
  var config = model.get("config"), digits = config.page === "digits", classes = config.classes;
  var shape = config.input_shape, channels = shape[0], height = shape[1], width = shape[2];
  var top = element("div", { "class": "widget-row" }, root);
  var padScale = Math.max(1, Math.floor(280 / Math.max(height, width)));
  var pad = element("canvas", { "class": "pad", width: digits ? 280 : width * padScale, height: digits ? 280 : height * padScale,
    tabindex: "0", role: "img", "aria-label": "drawing area" }, panel(top, "draw here"));
  var context = pad.getContext("2d", { willReadFrequently: true });
  var controls = element("div", { "class": "controls" }, panel(top));
  var clear = element("button", { type: "button", "class": "clear", text: "Clear" }, controls);
  var brush = element("input", { type: "range", min: "8", max: "40", step: "2", value: "22", "aria-label": "brush" }, controls);
  var settings = {};
  [["patch", digits ? 8 : (config.defaults || { patch: 8 }).patch, 1], ["stride", 1, 1], ["fill", 0, 0.1]].forEach(function (s) {
    var label = element("label", { text: s[0] + " " }, controls);
    settings[s[0]] = element("input", { type: "number", "class": s[0], min: s[2] === 1 ? "1" : "0", max: s[0] === "fill" ? "1" : String(Math.min(height, width)),
      step: String(s[2]), value: String(s[1]) }, label);
  });
  var seen = element("canvas", { "class": "seen", width: width, height: height, role: "img" }, panel(top, "as the model sees it"));
  var answer = panel(top);
  var readout = element("p", { "class": "readout prediction", "aria-live": "polite", text: digits ? "draw a digit" : "draw something" }, answer);
  var bars = element("div", { "class": "bars probabilities", role: "list" }, answer);
  var error = element("p", { "class": "error", role: "alert" }, root);
  element("h4", { text: "Feature maps" }, root);
  var fmaps = element("div", { "class": "fmaps" }, root), fmapCanvases = {};
  element("h4", { text: "Occlusion" }, root);
  var explorer = W.occlusionExplorer(explorerParts(root, width, height));
  W.legend(element("div", { "class": "legend" }, root), classes);
  var slider = null;
  if (digits) { element("h4", { text: "Shift" }, root); slider = W.shiftSlider(sliderParts(root)); }

  var strokes = [], state = { inFlight: false, pending: false, sequence: model.get("result").sequence || 0 };
  function redraw() {
    context.fillStyle = "#000"; context.fillRect(0, 0, pad.width, pad.height);
    strokes.forEach(function (s) {
      if (s.bitmap) { context.putImageData(s.bitmap, 0, 0); return; }
      context.strokeStyle = "#fff"; context.fillStyle = "#fff"; context.lineWidth = s.width; context.lineCap = "round"; context.lineJoin = "round";
      context.beginPath(); context.moveTo(s.points[0][0], s.points[0][1]);
      if (s.points.length === 1) { context.arc(s.points[0][0], s.points[0][1], s.width / 2, 0, 2 * Math.PI); context.fill(); return; }
      s.points.slice(1).forEach(function (p) { context.lineTo(p[0], p[1]); });
      context.stroke();
    });
  }
  function padGrey(k) {  // the pad's red (k: 0), green (1) or blue (2) channel as values in [0, 1]
    var d = context.getImageData(0, 0, pad.width, pad.height).data, out = new Float64Array(pad.width * pad.height);
    for (var i = 0; i < out.length; i++) out[i] = d[4 * i + (k || 0)] / 255;
    return out;
  }
  function currentInput() {  // the MNIST preprocessing for the digit model, area averaging to C x H x W otherwise
    if (!strokes.length) return null;
    if (digits) return window.nnscopeInput.mnistImage(padGrey(), pad.width);
    var out = [];  // red, green and blue for an RGB model, the grey (red) channel copied to each channel otherwise
    for (var k = 0; k < channels; k++) {
      out.push(window.nnscopeInput.resample(padGrey(channels === 3 ? k : 0), pad.width, { top: 0, left: 0, h: pad.height, w: pad.width }, width, height));
    }
    return out;
  }
  function send() {
    var image = currentInput();
    state.pending = false;
    if (!image) return;
    state.inFlight = true; state.sequence += 1; root.dataset.sent = state.sequence;
    model.set("request", { image: digits ? [image] : image, patch: Number(settings.patch.value), stride: Number(settings.stride.value),
      fill: Number(settings.fill.value), sequence: state.sequence });
    model.save_changes();
  }
  function changed() { if (state.inFlight) state.pending = true; else send(); }
  function point(e) {
    var box = pad.getBoundingClientRect();
    return [(e.clientX - box.left) / box.width * pad.width, (e.clientY - box.top) / box.height * pad.height];
  }
  var drawing = false;
  pad.addEventListener("pointerdown", function (e) {
    e.preventDefault(); pad.setPointerCapture(e.pointerId); drawing = true;
    strokes.push({ width: Number(brush.value) * pad.width / 280, points: [point(e)] }); redraw(); changed();
  });
  pad.addEventListener("pointermove", function (e) {
    if (!drawing) return;
    strokes[strokes.length - 1].points.push(point(e)); redraw(); changed();
  });
  ["pointerup", "pointercancel"].forEach(function (type) { pad.addEventListener(type, function () { drawing = false; }); });
  clear.addEventListener("click", function () { strokes = []; redraw(); });
  pad.addEventListener("dragover", function (e) { e.preventDefault(); });
  pad.addEventListener("drop", function (e) {  // an image file, drawn over the whole pad as it is
    e.preventDefault();
    var file = e.dataTransfer.files[0];
    if (!file || !/^image\//.test(file.type)) { error.textContent = "image file: expected an image (PNG, JPEG, ...)"; return; }
    var url = URL.createObjectURL(file), img = new Image();
    img.onload = function () {
      URL.revokeObjectURL(url);
      context.drawImage(img, 0, 0, pad.width, pad.height);
      strokes = [{ bitmap: context.getImageData(0, 0, pad.width, pad.height) }]; redraw(); changed();
    };
    img.src = url;
  });
  Object.keys(settings).forEach(function (name) {
    settings[name].addEventListener("change", function () { explorer.reset(); changed(); });
  });

  function show() {
    var result = model.get("result");
    error.textContent = result.error || "";
    if (!result.probabilities) return;
    var input = Array.isArray(result.input[0][0]) ? result.input : [result.input];
    W.paint(seen, height, width, function (r, c) { return W.colourAt(input, r, c); });
    W.drawBars(bars, result.probabilities, classes);
    readout.textContent = "predicted " + classes[result.prediction] + " (p = " + result.probabilities[result.prediction].toFixed(4) + ")";
    readout.dataset.prediction = result.prediction; readout.dataset.sequence = result.sequence;
    Object.keys(result.feature_maps).forEach(function (name) {
      if (!fmapCanvases[name]) {
        var figure = element("figure", { "class": "fmap" }, fmaps);
        fmapCanvases[name] = element("canvas", { "data-layer": name, role: "img" }, figure);
        element("figcaption", { text: name }, figure);
      }
      W.drawFeatureTiles(fmapCanvases[name], result.feature_maps[name]);
    });
    var o = result.occlusion;
    explorer.update({ input: result.input, patch: o.patch, stride: o.stride, fill: o.fill, row_starts: o.row_starts || o.starts,
      col_starts: o.col_starts || o.starts, probabilities: o.probabilities, "class": o["class"], classes: classes });
    if (slider && result.shift) {
      var s = result.shift;
      slider.update({ shifts: s.shifts, images: W.clampShifts(result.input, s.shifts), probabilities: s.probabilities,
        predictions: s.predictions, classes: classes });
    }
    root.dataset.analyzed = result.sequence;
  }
  model.on("change:result", function () {
    state.inFlight = false;
    show();
    if (state.pending) send();
  });
  redraw();
  show();  // a saved notebook: the last answer, without a kernel
}

function renderGraph(model, root) {  // the report's unrolled graph (bptt-graph.js), parameters editable
  var box = element("div", { "class": "bptt-graph" }, root), data = model.get("data");
  globalThis.nnscopeBPTT.draw(box, data.network, data.params);
}

var RENDERERS = { draw: renderDraw, occlusion: renderOcclusion, shift: renderShift, fmaps: renderFeatureMaps, bptt: renderGraph };

export default {
  render: function (context) {
    var root = element("div", { "class": "nnscope-widget nnscope-" + context.model.get("kind") }, context.el);
    RENDERERS[context.model.get("kind")](context.model, root);
  }
};
