/* nnscope serve: the MNIST preprocessing of a drawing, as LeCun et al. made the digits: the ink's
   bounding box scaled (area averaging, which keeps the grey levels of anti-aliased edges) to fit a
   20 x 20 box, then placed in 28 x 28 with its centre of mass at the centre. */
"use strict";
(function () {
  var SIDE = 28, BOX = 20;

  /* weights[k] = [[source index, overlap], ...]: area resampling of n cells onto m cells */
  function areaWeights(n, m) {
    var out = [], ratio = n / m;
    for (var k = 0; k < m; k++) {
      var lo = k * ratio, hi = (k + 1) * ratio, w = [];
      for (var s = Math.floor(lo); s < Math.min(n, Math.ceil(hi)); s++) {
        var overlap = Math.min(hi, s + 1) - Math.max(lo, s);
        if (overlap > 0) w.push([s, overlap / ratio]);
      }
      out.push(w);
    }
    return out;
  }

  function resample(grey, width, box, outW, outH) {  // the box {top, left, h, w} of grey (width wide) to outH x outW
    var rows = areaWeights(box.h, outH), cols = areaWeights(box.w, outW), out = [];
    for (var r = 0; r < outH; r++) {
      var line = [];
      for (var c = 0; c < outW; c++) {
        var v = 0;
        rows[r].forEach(function (wr) {
          cols[c].forEach(function (wc) { v += wr[1] * wc[1] * grey[(box.top + wr[0]) * width + box.left + wc[0]]; });
        });
        line.push(Math.min(1, Math.max(0, v)));  // a weighted mean of values in [0, 1]; the sum's rounding can pass 1 by 1e-15
      }
      out.push(line);
    }
    return out;
  }

  /* grey: (n * n) values in [0, 1], white ink on black -> 28 x 28 values in [0, 1], or null without ink */
  function mnistImage(grey, n) {
    var top = n, bottom = -1, left = n, right = -1;
    for (var y = 0; y < n; y++) for (var x = 0; x < n; x++) if (grey[y * n + x] > 0.05) {
      top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
    }
    if (bottom < 0) return null;
    var box = { top: top, left: left, h: bottom - top + 1, w: right - left + 1 };
    var scale = BOX / Math.max(box.h, box.w);
    var h = Math.max(1, Math.round(box.h * scale)), w = Math.max(1, Math.round(box.w * scale));
    var small = resample(grey, n, box, w, h);
    var mass = 0, my = 0, mx = 0;
    small.forEach(function (line, r) { line.forEach(function (v, c) { mass += v; my += v * r; mx += v * c; }); });
    // place the box so its centre of mass lands on the image's centre (13.5, 13.5 in pixel indices)
    var dy = Math.round(13.5 - my / mass), dx = Math.round(13.5 - mx / mass), image = [];
    for (var r = 0; r < SIDE; r++) {
      var line = [];
      for (var c = 0; c < SIDE; c++) {
        var sr = r - dy, sc = c - dx;
        line.push(sr >= 0 && sr < h && sc >= 0 && sc < w ? Math.min(1, Math.max(0, small[sr][sc])) : 0);
      }
      image.push(line);
    }
    return image;
  }

  window.nnscopeInput = { areaWeights: areaWeights, resample: resample, mnistImage: mnistImage };
})();
