/* nnscope's unrolled graph of Problems 3 and 5, and the vanishing-gradient explorer of Problem 4.
   One small script shared by the report (inlined) and the live page (served): it defines
   globalThis.nnscopeBPTT. The arithmetic repeats nnscope.recurrent (rnn.py, lstm.py, longseq.py) line for
   line, so that the browser's numbers equal Python's to 1e-12 (tested in Chromium). */
(function (root) {
  "use strict";

  /* ---- vectors and matrices (row vectors as in the Python code: a = b + h W^T + x U^T) ---- */
  function dot(u, v) { var s = 0; for (var i = 0; i < u.length; i++) s += u[i] * v[i]; return s; }
  function matvec(M, v) { return M.map(function (row) { return dot(row, v); }); }          // M v
  function tmatvec(M, v) {                                                                   // M^T v = v M
    var out = M[0].map(function () { return 0; });
    for (var i = 0; i < M.length; i++) for (var j = 0; j < out.length; j++) out[j] += v[i] * M[i][j];
    return out;
  }
  function add() {
    var args = arguments;
    return args[0].map(function (_, i) { var s = args[0][i]; for (var k = 1; k < args.length; k++) s += args[k][i]; return s; });
  }
  function mul(u, v) { return u.map(function (x, i) { return x * v[i]; }); }
  function map(u, f) { return u.map(f); }
  function zeros(n) { var z = []; for (var i = 0; i < n; i++) z.push(0); return z; }
  function outer(u, v) { return u.map(function (a) { return v.map(function (b) { return a * b; }); }); }
  function addTo(M, N) { for (var i = 0; i < M.length; i++) for (var j = 0; j < M[i].length; j++) M[i][j] += N[i][j]; }
  function zerosLike(M) { return M.map(function (row) { return row.map(function () { return 0; }); }); }
  function sigmoid(a) { return 0.5 * (1 + Math.tanh(0.5 * a)); }                             // as ops.sigmoid
  function softmax(o) {
    var m = Math.max.apply(null, o), e = o.map(function (v) { return Math.exp(v - m); }), s = e.reduce(function (a, b) { return a + b; }, 0);
    return e.map(function (v) { return v / s; });
  }
  function clone(v) { return JSON.parse(JSON.stringify(v)); }

  /* The loss of Problem 3 on y(T) and its backward through the softmax (output.py). */
  function lossOf(y) { return (y[0] - 0.5) * (y[0] - 0.5) - Math.log(y[1]); }
  function lossBackward(y) {
    var dy = [2 * (y[0] - 0.5), -1 / y[1]], mean = dot(dy, y);
    return { dy: dy, do: y.map(function (v, k) { return v * (dy[k] - mean); }) };
  }

  /* ---- Problem 3: the RNN of eqs. 10.8-10.11 (rnn.py) ---- */
  function rnnForward(p) {
    var h = [p.h0], a = [], o = [], y = [];
    p.x.forEach(function (x, t) {
      var at = add(add(p.b, matvec(p.W, h[t])), matvec(p.U, x));
      a.push(at); h.push(map(at, Math.tanh));
      var ot = add(p.c, matvec(p.V, h[t + 1]));
      o.push(ot); y.push(softmax(ot));
    });
    return { a: a, h: h, o: o, y: y, loss: lossOf(y[y.length - 1]) };
  }

  function rnnCompute(p) {
    var f = rnnForward(p), T = p.x.length, out = lossBackward(f.y[T - 1]);
    var dh = tmatvec(p.V, out.do), grads = { b: zeros(p.b.length), c: out.do, W: zerosLike(p.W), U: zerosLike(p.U), V: outer(out.do, f.h[T]) };
    var dL_dh = [], dL_da = [];
    for (var t = T - 1; t >= 0; t--) {
      dL_dh[t] = dh;
      var da = mul(dh, map(f.h[t + 1], function (v) { return 1 - v * v; }));
      dL_da[t] = da;
      dh = tmatvec(p.W, da);
      addTo(grads.W, outer(da, f.h[t])); addTo(grads.U, outer(da, p.x[t])); grads.b = add(grads.b, da);
    }
    var nodes = { "h:0": node(p.h0, tmatvec(p.W, dL_da[0])) };
    for (t = 1; t <= T; t++) {
      nodes["x:" + t] = node(p.x[t - 1], tmatvec(p.U, dL_da[t - 1]));
      nodes["a:" + t] = node(f.a[t - 1], dL_da[t - 1]);
      nodes["h:" + t] = node(f.h[t], dL_dh[t - 1]);
    }
    outputNodes(nodes, T, f, out);
    ["b", "W", "U", "V", "c"].forEach(function (k) { nodes[k] = node(p[k], grads[k]); });
    var bAfter = p.b.map(function (v, i) { return v - p.learning_rate * grads.b[i]; });
    var after = rnnForward(Object.assign({}, p, { b: bAfter })).loss;
    return { network: "rnn", forward: f, loss: f.loss, grads: grads, nodes: nodes, dL_da: dL_da, dL_dh: dL_dh, out: out,
             bias: "b", biasSteps: dL_da, central: centralDifference(p, "b", function (q) { return rnnForward(q).loss; }),
             bAfter: bAfter, lossAfter: after };
  }

  function node(value, grad) { return { value: value, grad: grad }; }
  function outputNodes(nodes, T, f, out) {
    for (var t = 1; t <= T; t++) {
      nodes["o:" + t] = node(f.o[t - 1], t === T ? out.do : [0, 0]);
      nodes["y:" + t] = node(f.y[t - 1], t === T ? out.dy : [0, 0]);
    }
    nodes.L = node(f.loss, 1);
  }

  /* (L(v + eps e_i) - L(v - eps e_i)) / (2 eps) for every entry of the vector p[name] (gradcheck.py). */
  function centralDifference(p, name, loss) {
    return p[name].map(function (_, i) {
      var up = p[name].slice(), down = p[name].slice(), change = {};
      up[i] += p.epsilon; down[i] -= p.epsilon;
      change[name] = up; var lu = loss(Object.assign({}, p, change));
      change[name] = down; var ld = loss(Object.assign({}, p, change));
      return (lu - ld) / (2 * p.epsilon);
    });
  }

  /* ---- Problem 5: the LSTM cell of eqs. 10.40-10.44 (lstm.py); a gate matrix not given is U or W ---- */
  var GATES = { f: ["b_f", "U_f", "W_f"], g: ["b_g", "U_g", "W_g"], q: ["b_o", "U_o", "W_o"], z: ["b", "U", "W"] };
  function cellOf(p) {
    var c = { b: p.b, U: p.U, W: p.W, b_f: p.b_f, b_g: p.b_g, b_o: p.b_o };
    ["U_f", "W_f", "U_g", "W_g", "U_o", "W_o"].forEach(function (k) { c[k] = p[k] || p[k[0]]; });
    return c;
  }
  function lstmForward(p) {
    var c = cellOf(p), h = p.h0, s = p.s0, caches = [], o = [], y = [];
    p.x.forEach(function (x) {
      var pre = {};
      Object.keys(GATES).forEach(function (g) { var k = GATES[g]; pre[g] = add(add(c[k[0]], matvec(c[k[1]], x)), matvec(c[k[2]], h)); });
      var cache = { h_prev: h, s_prev: s, x: x, f: map(pre.f, sigmoid), g: map(pre.g, sigmoid), q: map(pre.q, sigmoid) };
      cache.z = map(pre.z, p.cell_activation === "tanh" ? Math.tanh : sigmoid);
      cache.s = add(mul(cache.f, s), mul(cache.g, cache.z));
      cache.tanh_s = map(cache.s, Math.tanh);
      cache.h = mul(cache.tanh_s, cache.q);
      caches.push(cache); h = cache.h; s = cache.s;
      var ot = add(p.c, matvec(p.V, h));
      o.push(ot); y.push(softmax(ot));
    });
    return { caches: caches, o: o, y: y, loss: lossOf(y[y.length - 1]) };
  }

  function lstmCompute(p) {
    var c = cellOf(p), f = lstmForward(p), T = p.x.length, out = lossBackward(f.y[T - 1]);
    var dh = tmatvec(p.V, out.do), ds = zeros(p.b.length), local = [], grads = {};
    Object.keys(c).forEach(function (k) { grads[k] = Array.isArray(c[k][0]) ? zerosLike(c[k]) : zeros(c[k].length); });
    for (var t = T - 1; t >= 0; t--) {
      var k = f.caches[t], L = { dh: dh };
      L.ds = add(ds, mul(mul(dh, k.q), map(k.tanh_s, function (v) { return 1 - v * v; })));
      L.df = mul(L.ds, k.s_prev); L.dg = mul(L.ds, k.z); L.dz = mul(L.ds, k.g); L.dq = mul(dh, k.tanh_s);
      var slope = k.z.map(function (v) { return p.cell_activation === "tanh" ? 1 - v * v : v * (1 - v); });
      L.da = { f: mul(L.df, map(k.f, function (v) { return v * (1 - v); })), g: mul(L.dg, map(k.g, function (v) { return v * (1 - v); })),
               q: mul(L.dq, map(k.q, function (v) { return v * (1 - v); })), z: mul(L.dz, slope) };
      local[t] = L;
      var dhPrev = zeros(p.b.length), dx = zeros(p.x[t].length);
      Object.keys(GATES).forEach(function (g) {
        var names = GATES[g], da = L.da[g];
        grads[names[0]] = add(grads[names[0]], da); addTo(grads[names[1]], outer(da, k.x)); addTo(grads[names[2]], outer(da, k.h_prev));
        dhPrev = add(dhPrev, tmatvec(c[names[2]], da)); dx = add(dx, tmatvec(c[names[1]], da));
      });
      L.dx = dx; L.dhPrev = dhPrev; L.dsPrev = mul(L.ds, k.f);
      dh = dhPrev; ds = L.dsPrev;
    }
    var total = { b_f: grads.b_f, b_g: grads.b_g, b_o: grads.b_o, b: grads.b, c: out.do, V: outer(out.do, f.caches[T - 1].h),
                  U: clone(grads.U), W: clone(grads.W) };
    ["U_f", "W_f", "U_g", "W_g", "U_o", "W_o"].forEach(function (m) { if (p[m]) total[m] = grads[m]; else addTo(total[m[0]], grads[m]); });
    var nodes = { "h:0": node(p.h0, local[0].dhPrev), "s:0": node(p.s0, local[0].dsPrev) };
    for (t = 1; t <= T; t++) {
      var kk = f.caches[t - 1], LL = local[t - 1];
      nodes["x:" + t] = node(p.x[t - 1], LL.dx);
      [["f", kk.f, LL.df], ["g", kk.g, LL.dg], ["q", kk.q, LL.dq], ["z", kk.z, LL.dz], ["s", kk.s, LL.ds], ["h", kk.h, LL.dh]]
        .forEach(function (e) { nodes[e[0] + ":" + t] = node(e[1], e[2]); });
    }
    outputNodes(nodes, T, { o: f.o, y: f.y, loss: f.loss }, out);
    ["b_f", "b_g", "b_o", "b", "U_f", "W_f", "U_g", "W_g", "U_o", "W_o", "U", "W", "V", "c"].forEach(function (m) {
      if (total[m]) nodes[m] = node(m in c ? c[m] : p[m], total[m]);
    });
    var bAfter = p.b_f.map(function (v, i) { return v - p.learning_rate * total.b_f[i]; });
    return { network: "lstm", forward: f, loss: f.loss, grads: total, nodes: nodes, local: local, out: out, bias: "b_f",
             biasSteps: local.map(function (l) { return l.da.f; }),
             central: centralDifference(p, "b_f", function (q) { return lstmForward(q).loss; }),
             bAfter: bAfter, lossAfter: lstmForward(Object.assign({}, p, { b_f: bAfter })).loss };
  }

  function compute(network, p) { return network === "lstm" ? lstmCompute(p) : rnnCompute(p); }

  /* ---- numbers as the page shows them ---- */
  function fmt(v, digits) {
    if (typeof v !== "number") return "[" + v.map(function (e) { return fmt(e, digits); }).join(", ") + "]";
    digits = digits || 4;
    var a = Math.abs(v), text;
    if (v === 0) text = "0";
    else if (a < 1e-3 || a >= 1e6) text = v.toExponential(digits - 1).replace(/\.?0+e/, "e");  // 4.17e-5
    else text = String(Number(v.toPrecision(digits)));
    return text.replace(/-/g, "−");
  }

  /* ---- the graph's layout: one column per time step, one lane per quantity ---- */
  var LANES = {
    rnn: [["y", "y(t)"], ["o", "o(t)"], ["h", "h(t)"], ["a", "a(t)"], ["x", "x(t)"]],
    lstm: [["y", "y(t)"], ["o", "o(t)"], ["h", "h(t)"], ["s", "s(t)"], ["z", "cell input z(t)"], ["q", "q(t)"], ["g", "g(t)"], ["f", "f(t)"], ["x", "x(t)"]]
  };
  var PARAMS = { rnn: ["b", "W", "U", "V", "c"], lstm: ["b_f", "b_g", "b_o", "b", "U", "W", "V", "c"] };

  function label(id) {
    var parts = id.split(":");
    return parts.length === 2 ? parts[0] + "(" + parts[1] + ")" : id;
  }

  /* What feeds a node in the forward pass (its parents), for the edges and the chain back to L. */
  function parents(network, id, T) {
    var parts = id.split(":"), name = parts[0], t = Number(parts[1]), prev = function (q) { return q + ":" + (t - 1); };
    if (id === "L") return ["y:" + T];
    if (name === "y") return ["o:" + t];
    if (name === "o") return ["h:" + t];
    if (network === "rnn") {
      if (name === "h" && t > 0) return ["a:" + t];
      if (name === "a") return ["x:" + t, prev("h")];
      return [];
    }
    if (name === "h" && t > 0) return ["s:" + t, "q:" + t];
    if (name === "s" && t > 0) return ["f:" + t, "g:" + t, "z:" + t, prev("s")];
    if ("fgqz".indexOf(name) >= 0 && parts.length === 2) return ["x:" + t, prev("h")];
    return [];
  }

  /* The children of a node: where its gradient comes from. */
  function children(network, id, T) {
    var all = [];
    allIds(network, T).forEach(function (other) { if (parents(network, other, T).indexOf(id) >= 0) all.push(other); });
    return all;
  }

  function allIds(network, T) {
    var ids = ["h:0"].concat(network === "lstm" ? ["s:0"] : []);
    for (var t = 1; t <= T; t++) LANES[network].slice().reverse().forEach(function (l) { ids.push(l[0] + ":" + t); });
    return ids.concat(["L"]);
  }

  /* The path that brings dL to a node: from L, each time through the child with the largest |gradient|. */
  function chain(network, result, id, T) {
    var path = [id], guard = 0;
    while (path[0] !== "L" && guard++ < 200) {
      var kids = children(network, path[0], T).filter(function (k) { return result.nodes[k]; });
      if (!kids.length) break;
      kids.sort(function (a, b) { return norm(result.nodes[b].grad) - norm(result.nodes[a].grad); });
      path.unshift(kids[0]);
    }
    return path;
  }
  function norm(v) { return typeof v === "number" ? Math.abs(v) : Math.sqrt(flat(v).reduce(function (s, x) { return s + x * x; }, 0)); }
  function flat(v) { return Array.isArray(v) ? [].concat.apply([], v.map(flat)) : [v]; }

  /* The defining equation and the local derivative of a node, with the numbers of this run in them. */
  function explain(network, p, r, id) {
    var parts = id.split(":"), name = parts[0], t = Number(parts[1]), T = p.x.length, n = r.nodes[id], i = t - 1;
    var out = { equation: "", derivative: "" };
    if (id === "L") {
      var y = r.nodes["y:" + T].value;
      out.equation = "L = (y₁(" + T + ") − 0.5)² − log y₂(" + T + ") = (" + fmt(y[0], 6) + " − 0.5)² − log " + fmt(y[1], 6) + " = " + fmt(n.value, 8);
      out.derivative = "dL/dL = 1";
      return out;
    }
    if (PARAMS[network].indexOf(id) >= 0 || /^[UW]_/.test(id)) {
      out.equation = id + " = " + fmt(n.value) + " (a parameter, the same at every step)";
      out.derivative = "dL/d" + id + " = Σₜ (its term at step t) = " + fmt(n.grad, 6);
      if (id === r.bias) out.derivative = "dL/d" + id + " = Σₜ dL/da" + (network === "lstm" ? "_f" : "") + "(t) = " + fmt(n.grad, 6);
      return out;
    }
    if (name === "y") {
      out.equation = "y(" + t + ") = softmax(o(" + t + ")) = softmax(" + fmt(r.nodes["o:" + t].value) + ") = " + fmt(n.value, 6);
      out.derivative = t === T ? "dL/dy(" + T + ") = [2(y₁ − 0.5), −1/y₂] = " + fmt(n.grad, 6) : "y(" + t + ") does not enter L: dL/dy(" + t + ") = 0";
      return out;
    }
    if (name === "o") {
      out.equation = "o(" + t + ") = c + V h(" + t + ") = " + fmt(p.c) + " + " + fmt(p.V) + " · " + fmt(r.nodes["h:" + t].value) + " = " + fmt(n.value, 6);
      out.derivative = t === T ? "dL/do = y ⊙ (dL/dy − (yᵀ dL/dy)) = " + fmt(r.nodes["y:" + T].value) + " ⊙ (" + fmt(r.nodes["y:" + T].grad) + " − " +
        fmt(dot(r.nodes["y:" + T].value, r.nodes["y:" + T].grad)) + ") = " + fmt(n.grad, 6) : "o(" + t + ") does not enter L: dL/do(" + t + ") = 0";
      return out;
    }
    if (name === "x") {
      out.equation = "x(" + t + ") = " + fmt(n.value) + " (the input at step " + t + ")";
      out.derivative = network === "rnn" ? "dL/dx(" + t + ") = Uᵀ dL/da(" + t + ") = " + fmt(p.U) + "ᵀ · " + fmt(r.nodes["a:" + t].grad) + " = " + fmt(n.grad, 6)
        : "dL/dx(" + t + ") = Σ over the gates of U_gateᵀ dL/da_gate(" + t + ") = " + fmt(n.grad, 6);
      return out;
    }
    if (network === "rnn") return explainRnn(p, r, name, t, n, T, out);
    return explainLstm(p, r, name, t, n, T, i, out);
  }

  function explainRnn(p, r, name, t, n, T, out) {
    if (name === "a") {
      out.equation = "a(" + t + ") = b + W h(" + (t - 1) + ") + U x(" + t + ") = " + fmt(p.b) + " + " + fmt(p.W) + " · " + fmt(r.nodes["h:" + (t - 1)].value) +
        " + " + fmt(p.U) + " · " + fmt(p.x[t - 1]) + " = " + fmt(n.value, 6);
      out.derivative = "dL/da(" + t + ") = dL/dh(" + t + ") ⊙ (1 − h(" + t + ")²) = " + fmt(r.nodes["h:" + t].grad) + " ⊙ " +
        fmt(r.nodes["h:" + t].value.map(function (v) { return 1 - v * v; })) + " = " + fmt(n.grad, 6);
    } else if (name === "h" && t === 0) {
      out.equation = "h(0) = " + fmt(n.value) + " (the initial state)";
      out.derivative = "dL/dh(0) = Wᵀ dL/da(1) = " + fmt(n.grad, 6);
    } else {
      out.equation = "h(" + t + ") = tanh(a(" + t + ")) = tanh(" + fmt(r.nodes["a:" + t].value) + ") = " + fmt(n.value, 6);
      out.derivative = t === T ? "dL/dh(" + T + ") = Vᵀ dL/do(" + T + ") = " + fmt(p.V) + "ᵀ · " + fmt(r.nodes["o:" + T].grad) + " = " + fmt(n.grad, 6)
        : "dL/dh(" + t + ") = Wᵀ dL/da(" + (t + 1) + ") = " + fmt(p.W) + "ᵀ · " + fmt(r.nodes["a:" + (t + 1)].grad) + " = " + fmt(n.grad, 6);
    }
    return out;
  }

  function explainLstm(p, r, name, t, n, T, i, out) {
    var gate = { f: ["forget gate", "b_f", "U_f", "W_f", "σ"], g: ["input gate", "b_g", "U_g", "W_g", "σ"], q: ["output gate", "b_o", "U_o", "W_o", "σ"],
                 z: ["cell input", "b", "U", "W", p.cell_activation === "tanh" ? "tanh" : "σ"] }[name];
    var nv = function (id) { return r.nodes[id] ? r.nodes[id].value : null; }, ng = function (id) { return r.nodes[id] ? r.nodes[id].grad : null; };
    if (gate) {
      out.equation = name + "(" + t + ") = " + gate[4] + "(" + gate[1] + " + " + gate[2] + " x(" + t + ") + " + gate[3] + " h(" + (t - 1) + ")) = " +
        gate[4] + "(" + fmt(cellOf(p)[gate[1]]) + " + " + fmt(cellOf(p)[gate[2]]) + " · " + fmt(p.x[i]) + " + " + fmt(cellOf(p)[gate[3]]) + " · " +
        fmt(nv("h:" + (t - 1))) + ") = " + fmt(n.value, 6) + "  (" + gate[0] + ")";
      var by = { f: "s(" + (t - 1) + ")", g: "z(" + t + ")", z: "g(" + t + ")" }[name];
      var other = { f: nv("s:" + (t - 1)), g: nv("z:" + t), z: nv("g:" + t) }[name];
      out.derivative = name === "q" ? "dL/dq(" + t + ") = dL/dh(" + t + ") ⊙ tanh(s(" + t + ")) = " + fmt(ng("h:" + t)) + " ⊙ " + fmt(nv("s:" + t).map(Math.tanh)) + " = " + fmt(n.grad, 6)
        : "dL/d" + name + "(" + t + ") = dL/ds(" + t + ") ⊙ " + by + " = " + fmt(ng("s:" + t)) + " ⊙ " + fmt(other) + " = " + fmt(n.grad, 6);
      if (name === "f") out.derivative += "; its share of dL/db_f: dL/df(" + t + ") ⊙ f(1 − f) = " + fmt(r.local[i].da.f, 6);
    } else if (name === "s") {
      out.equation = t === 0 ? "s(0) = " + fmt(n.value) + " (the initial cell state)" : "s(" + t + ") = f(" + t + ") ⊙ s(" + (t - 1) + ") + g(" + t + ") ⊙ z(" + t + ") = " +
        fmt(nv("f:" + t)) + " ⊙ " + fmt(nv("s:" + (t - 1))) + " + " + fmt(nv("g:" + t)) + " ⊙ " + fmt(nv("z:" + t)) + " = " + fmt(n.value, 6);
      out.derivative = t === 0 ? "dL/ds(0) = dL/ds(1) ⊙ f(1) = " + fmt(n.grad, 6) : "dL/ds(" + t + ") = dL/dh(" + t + ") ⊙ q(" + t + ") ⊙ (1 − tanh²s(" + t + "))" +
        (t < T ? " + dL/ds(" + (t + 1) + ") ⊙ f(" + (t + 1) + ")" : "") + " = " + fmt(n.grad, 6);
    } else if (name === "h") {
      out.equation = t === 0 ? "h(0) = " + fmt(n.value) + " (the initial state)" : "h(" + t + ") = tanh(s(" + t + ")) ⊙ q(" + t + ") = tanh(" + fmt(nv("s:" + t)) + ") ⊙ " + fmt(nv("q:" + t)) + " = " + fmt(n.value, 6);
      out.derivative = t === T ? "dL/dh(" + T + ") = Vᵀ dL/do(" + T + ") = " + fmt(n.grad, 6)
        : "dL/dh(" + t + ") = Σ over the gates of W_gateᵀ dL/da_gate(" + (t + 1) + ") = " + fmt(n.grad, 6);
    }
    return out;
  }

  /* Which nodes' gradients are known after BPTT has processed steps T down to `step` (step = T + 1: only the output). */
  function known(network, id, step, T) {
    if (id === "L" || id === "y:" + T || id === "o:" + T || id === "V" || id === "c") return true;
    var parts = id.split(":");
    if (parts.length === 1) return step === 1;  // the other parameters sum over every step
    var t = Number(parts[1]);
    if (parts[0] === "o" || parts[0] === "y") return true;  // 0 for t < T, known from the start
    if (parts[0] === "h" && t === T) return true;            // dL/dh(T) = V^T dL/do(T) comes with the output
    return t >= step || ((parts[0] === "h" || parts[0] === "s") && t === step - 1);
  }

  /* ---- drawing: an SVG of the unrolled graph, a detail panel, the BPTT slider ---- */
  var SVG = "http://www.w3.org/2000/svg";
  function el(tag, attrs, parent, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function draw(container, network, p, options) {
    options = options || {};
    var r = compute(network, p), T = p.x.length, lanes = LANES[network];
    var colW = 172, rowH = 58, left = 120, top = 10, nodeW = 160, nodeH = 44;
    var width = left + (T + 1.5) * colW, height = top + (lanes.length + 1) * rowH + 10;
    container.innerHTML = "";
    container.classList.add("bptt");
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img",
                          "aria-label": "the unrolled graph of the " + network.toUpperCase() + ", one column per time step" });
    var where = {};
    lanes.forEach(function (lane, row) {
      el("text", { x: 4, y: top + row * rowH + nodeH / 2 + 4, "class": "lane" }, svg, lane[1]);
      for (var t = 0; t <= T; t++) {
        var id = lane[0] + ":" + t;
        if (!r.nodes[id]) continue;
        where[id] = [left + t * colW, top + row * rowH];
      }
    });
    where.L = [left + (T + 0.5) * colW, top + lanes.length * rowH];
    var edges = el("g", { "class": "edges" }, svg);
    Object.keys(where).forEach(function (id) {
      parents(network, id, T).forEach(function (q) {
        if (!where[q]) return;
        el("line", { x1: where[q][0] + nodeW / 2, y1: where[q][1] + nodeH / 2, x2: where[id][0] + nodeW / 2, y2: where[id][1] + nodeH / 2, "data-from": q, "data-to": id }, edges);
      });
    });
    var boxes = {};
    Object.keys(where).forEach(function (id) {
      var g = el("g", { "class": "node", tabindex: 0, "data-id": id, transform: "translate(" + where[id][0] + "," + where[id][1] + ")" }, svg);
      el("rect", { width: nodeW, height: nodeH, rx: 6 }, g);
      el("text", { x: 6, y: 14, "class": "name" }, g, label(id) + " = " + fmt(r.nodes[id].value, 3));
      el("text", { x: 6, y: 30, "class": "grad" }, g, "dL/d· = " + fmt(r.nodes[id].grad, 3));
      boxes[id] = g;
    });
    var wrap = document.createElement("div");
    wrap.className = "bptt-scroll";
    wrap.appendChild(svg);
    container.appendChild(wrap);

    var params = document.createElement("div");
    params.className = "bptt-params";
    PARAMS[network].forEach(function (k) {
      if (!r.nodes[k]) return;
      var b = document.createElement("button");
      b.type = "button"; b.dataset.id = k;
      b.textContent = k + " = " + fmt(r.nodes[k].value, 3) + ";  dL/d" + k + " = " + fmt(r.nodes[k].grad, 3);
      params.appendChild(b); boxes[k] = b;
    });
    container.appendChild(params);

    var controls = document.createElement("div");
    controls.className = "bptt-controls";
    controls.innerHTML = '<label>BPTT, step by step: <input type="range" class="bptt-step" min="1" max="' + (T + 1) + '" value="' + (T + 1) + '" step="1"></label> <span class="bptt-step-text"></span>' +
      '<p class="bptt-sum"></p><p class="bptt-descent"></p>';
    container.appendChild(controls);
    var detail = document.createElement("div");
    detail.className = "bptt-detail";
    detail.setAttribute("aria-live", "polite");
    container.appendChild(detail);

    var slider = controls.querySelector(".bptt-step"), descent = controls.querySelector(".bptt-descent");
    descent.innerHTML = "L = <span class=\"loss\"></span>; one gradient step " + r.bias + " ← " + r.bias + " − η dL/d" + r.bias + " with η = " +
      p.learning_rate + ": " + r.bias + " = <span class=\"after\"></span>, L = <span class=\"loss-after\"></span>";
    descent.querySelector(".loss").textContent = fmt(r.loss, 12);
    descent.querySelector(".after").textContent = fmt(r.bAfter, 10);
    descent.querySelector(".loss-after").textContent = fmt(r.lossAfter, 12);
    function walk() {
      var step = Number(slider.value), sum = zeros(p[r.bias].length);
      for (var t = T; t >= step && t >= 1; t--) sum = add(sum, r.biasSteps[t - 1]);
      Object.keys(boxes).forEach(function (id) { boxes[id].classList.toggle("known", known(network, id, step, T)); });
      controls.querySelector(".bptt-step-text").textContent = step > T ? "output only: dL/dy(" + T + "), dL/do(" + T + "), dL/dh(" + T + ")" :
        "steps " + T + " down to " + step + " done (t = " + step + ")";
      var bias = r.bias === "b_f" ? "dL/db_f" : "dL/db";
      var line = controls.querySelector(".bptt-sum");
      line.innerHTML = "running sum of " + bias + " over t = " + T + " … " + Math.min(step, T) + ": <span class=\"running\"></span> · central differences (ε = " +
        p.epsilon + "): <span class=\"central\"></span>";
      line.querySelector(".running").textContent = fmt(sum, 10);
      line.querySelector(".central").textContent = fmt(r.central, 10);
      container.dataset.step = step;
    }
    function select(id) {
      Object.keys(boxes).forEach(function (k) { boxes[k].classList.toggle("selected", k === id); });
      var e = explain(network, p, r, id), path = chain(network, r, id, T);
      detail.innerHTML = "";
      var h = document.createElement("h5"); h.textContent = label(id); detail.appendChild(h);
      [["equation", e.equation], ["derivative", e.derivative]].forEach(function (pair) {
        var q = document.createElement("p"); q.className = pair[0]; q.textContent = pair[1]; detail.appendChild(q);
      });
      if (path.length > 1) {
        var c = document.createElement("p"); c.className = "chain";
        c.textContent = "dL reaches it along " + path.map(function (k) { return label(k) + " (dL/d· = " + fmt(r.nodes[k].grad, 4) + ")"; }).join(" → ");
        detail.appendChild(c);
        var steps = document.createElement("ol"); steps.className = "chain-steps";  // each link's local derivative
        path.slice(1).forEach(function (k) {
          var li = document.createElement("li"); li.textContent = explain(network, p, r, k).derivative; steps.appendChild(li);
        });
        detail.appendChild(steps);
      }
      container.dataset.selected = id;
    }
    Object.keys(boxes).forEach(function (id) {
      boxes[id].addEventListener("click", function () { select(id); });
      boxes[id].addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(id); } });
    });
    slider.addEventListener("input", walk);
    walk();
    select(network === "lstm" ? "f:1" : "a:1");
    container.result = r;
    return r;
  }

  /* ---- Problem 4: ||dL/dh(t)|| through many steps (longseq.py), with the same rescaling ---- */
  var RESCALE = 1e100;
  function log10norm(vs) { var s = 0; vs.forEach(function (v) { v.forEach(function (row) { row.forEach(function (x) { s += x * x; }); }); }); return s > 0 ? Math.log10(Math.sqrt(s)) : -Infinity; }
  function rescaled(vs, scale) {
    var s = 0; vs.forEach(function (v) { v.forEach(function (row) { row.forEach(function (x) { s += x * x; }); }); });
    var n = Math.sqrt(s);
    if (n === 0 || (n >= 1 / RESCALE && n <= RESCALE)) return [vs, scale];
    return [vs.map(function (v) { return v.map(function (row) { return row.map(function (x) { return x / n; }); }); }), scale + Math.log10(n)];
  }
  function onehot(token, d) { var v = zeros(d); if (token >= 0) v[token] = 1; return v; }
  function scaled(M, k) { return M.map(function (row) { return row.map(function (v) { return v * k; }); }); }

  /* Cross-entropy of softmax(c + V h(T)) averaged over the batch: dL/dh(T) per sequence. */
  function crossEntropyBackward(V, c, hs, labels) {
    return hs.map(function (h, n) {
      var y = softmax(add(c, matvec(V, h)));
      var d = y.map(function (v, k) { return (v - (k === labels[n] ? 1 : 0)) / hs.length; });
      return tmatvec(V, d);
    });
  }

  /* log10 ||dL/dh(t)|| for t = T..1 (index: steps back) of the RNN with W scaled to `radius`. */
  function rnnProfile(data, radius, length) {
    var W = scaled(data.W_unit, radius), U = data.U, b = zeros(W.length), d = U[0].length;
    var tokens = data.tokens.map(function (row) { return row.slice(row.length - length); });
    var hs = tokens.map(function (row) {
      var h = [zeros(W.length)];
      row.forEach(function (tok) { h.push(map(add(add(b, matvec(W, h[h.length - 1])), matvec(U, onehot(tok, d))), Math.tanh)); });
      return h;
    });
    var dh = crossEntropyBackward(data.V, data.c, hs.map(function (h) { return h[length]; }), data.labels), scale = 0, curve = [];
    for (var t = length - 1; t >= 0; t--) {
      curve.push(log10norm([dh]) + scale);
      dh = dh.map(function (g, n) { return tmatvec(W, mul(g, hs[n][t + 1].map(function (v) { return 1 - v * v; }))); });
      var r = rescaled([dh], scale); dh = r[0][0]; scale = r[1];
    }
    return curve;
  }

  /* log10 ||dL/ds(t)|| (through the cell state) for the LSTM with forget-gate bias `bias` (tanh cell input). */
  function lstmProfile(data, bias, length) {
    var p = Object.assign({}, data.lstm, { b_f: data.lstm.b.map(function () { return bias; }), cell_activation: "tanh" });
    var c = cellOf(p), d = p.U[0].length, n0 = p.W.length;
    var tokens = data.tokens.map(function (row) { return row.slice(row.length - length); });
    var runs = tokens.map(function (row) {
      var caches = [], h = zeros(n0), s = zeros(n0);
      row.forEach(function (tok) {
        var x = onehot(tok, d), pre = {};
        Object.keys(GATES).forEach(function (g) { var k = GATES[g]; pre[g] = add(add(c[k[0]], matvec(c[k[1]], x)), matvec(c[k[2]], h)); });
        var k = { h_prev: h, s_prev: s, f: map(pre.f, sigmoid), g: map(pre.g, sigmoid), q: map(pre.q, sigmoid), z: map(pre.z, Math.tanh) };
        k.s = add(mul(k.f, s), mul(k.g, k.z)); k.tanh_s = map(k.s, Math.tanh); k.h = mul(k.tanh_s, k.q);
        caches.push(k); h = k.h; s = k.s;
      });
      return caches;
    });
    var dh = crossEntropyBackward(p.V, p.c, runs.map(function (cs) { return cs[length - 1].h; }), data.labels);
    var ds = dh.map(function () { return zeros(n0); }), scale = 0, curve = [];
    for (var t = length - 1; t >= 0; t--) {
      var next = runs.map(function (cs, n) {
        var k = cs[t], g = dh[n];
        var dsT = add(ds[n], mul(mul(g, k.q), k.tanh_s.map(function (v) { return 1 - v * v; })));
        var da = { f: mul(mul(dsT, k.s_prev), k.f.map(function (v) { return v * (1 - v); })), g: mul(mul(dsT, k.z), k.g.map(function (v) { return v * (1 - v); })),
                   q: mul(mul(g, k.tanh_s), k.q.map(function (v) { return v * (1 - v); })), z: mul(mul(dsT, k.g), k.z.map(function (v) { return 1 - v * v; })) };
        var dhPrev = zeros(n0);
        Object.keys(GATES).forEach(function (gate) { dhPrev = add(dhPrev, tmatvec(c[GATES[gate][2]], da[gate])); });
        return [dhPrev, mul(dsT, k.f)];
      });
      dh = next.map(function (e) { return e[0]; }); ds = next.map(function (e) { return e[1]; });
      curve.push(log10norm([ds]) + scale);  // dL/ds(t-1) through s(t) = f(t) s(t-1) + ...
      var r = rescaled([dh, ds], scale); dh = r[0][0]; ds = r[0][1]; scale = r[1];
    }
    return curve;
  }

  /* Least-squares slope of a curve against its index (longseq.decay_rate), finite points only. */
  function slope(curve) {
    var xs = [], ys = [];
    curve.forEach(function (v, i) { if (isFinite(v)) { xs.push(i); ys.push(v); } });
    if (xs.length < 2) return 0;
    var mx = xs.reduce(function (a, b) { return a + b; }, 0) / xs.length, my = ys.reduce(function (a, b) { return a + b; }, 0) / ys.length, sxy = 0, sxx = 0;
    xs.forEach(function (x, i) { sxy += (x - mx) * (ys[i] - my); sxx += (x - mx) * (x - mx); });
    return sxy / sxx;
  }

  /* Problem 4.1's explorer: sliders for the spectral radius of W, the length and the LSTM's forget bias. */
  function drawVanishing(container, data) {
    var longest = data.tokens[0].length, step = Math.max(1, Math.round(longest / 100));
    container.innerHTML = '<div class="vanishing-controls">' +
      '<label>spectral radius of W <input type="range" class="radius" min="0.1" max="2.5" step="0.05" value="1"> <output class="radius-v"></output></label>' +
      '<label>length τ <input type="range" class="length" min="' + Math.min(10, longest) + '" max="' + longest + '" step="' + step + '" value="' + Math.min(200, longest) + '"> <output class="length-v"></output></label>' +
      '<label>LSTM forget-gate bias b<sub>f</sub> <input type="range" class="bias" min="-2" max="5" step="0.5" value="1"> <output class="bias-v"></output></label></div>' +
      '<p class="vanishing-rates"></p>';
    var svg = el("svg", { viewBox: "0 0 640 300", width: 640, height: 300, role: "img", "aria-label": "log10 of the gradient norm against steps back" });
    container.appendChild(svg);
    var inputs = ["radius", "length", "bias"].map(function (k) { return container.querySelector("." + k); });
    function redraw() {
      var radius = Number(inputs[0].value), length = Number(inputs[1].value), bias = Number(inputs[2].value);
      ["radius", "length", "bias"].forEach(function (k, i) { container.querySelector("." + k + "-v").textContent = inputs[i].value; });
      var rnn = rnnProfile(data, radius, length), lstm = lstmProfile(data, bias, length);
      container.curves = { rnn: rnn, lstm: lstm };
      var finite = rnn.concat(lstm).filter(isFinite), lo = Math.min.apply(null, finite.concat([0])), hi = Math.max.apply(null, finite.concat([0]));
      if (hi - lo < 1) { hi += 0.5; lo -= 0.5; }
      var X = function (i) { return 60 + 560 * i / Math.max(1, length - 1); }, Y = function (v) { return 270 - 250 * (v - lo) / (hi - lo); };
      svg.innerHTML = "";
      el("line", { x1: 60, y1: Y(0), x2: 620, y2: Y(0), "class": "axis" }, svg);
      el("line", { x1: 60, y1: 20, x2: 60, y2: 270, "class": "axis" }, svg);
      el("text", { x: 4, y: 24 }, svg, fmt(hi, 3));
      el("text", { x: 4, y: 270 }, svg, fmt(lo, 3));
      el("text", { x: 60, y: 292 }, svg, "0 steps back");
      el("text", { x: 520, y: 292 }, svg, (length - 1) + " steps back");
      el("text", { x: 64, y: Y(0) - 4 }, svg, "log₁₀ = 0");
      [["rnn-line", rnn], ["lstm-line", lstm]].forEach(function (pair) {
        var pts = pair[1].map(function (v, i) { return isFinite(v) ? X(i).toFixed(1) + "," + Y(v).toFixed(1) : null; }).filter(Boolean);
        el("polyline", { points: pts.join(" "), "class": pair[0] }, svg);
      });
      container.querySelector(".vanishing-rates").textContent = "RNN ||dL/dh(t)||: ×" + fmt(Math.pow(10, slope(rnn)), 4) + " per step, " +
        fmt(rnn[rnn.length - 1] - rnn[0], 4) + " decades over the sequence (blue) · LSTM ||dL/ds(t)||: ×" + fmt(Math.pow(10, slope(lstm)), 4) + " per step (red)";
    }
    inputs.forEach(function (input) { input.addEventListener("input", redraw); });
    redraw();
    container.redraw = redraw;
  }

  /* Draw every graph of a page: elements with data-bptt="ID" read the graph of the JSON block #ID. */
  function mountAll(doc) {
    Array.prototype.forEach.call(doc.querySelectorAll("[data-bptt]"), function (box) {
      var data = JSON.parse(doc.getElementById(box.dataset.bptt).textContent);
      draw(box, data.network, data.params);
    });
    Array.prototype.forEach.call(doc.querySelectorAll("[data-vanishing]"), function (box) {
      drawVanishing(box, JSON.parse(doc.getElementById(box.dataset.vanishing).textContent));
    });
  }

  root.nnscopeBPTT = { mountAll: mountAll, rnnCompute: rnnCompute, lstmCompute: lstmCompute, compute: compute, explain: explain, chain: chain, known: known,
                       draw: draw, drawVanishing: drawVanishing, fmt: fmt, rnnProfile: rnnProfile, lstmProfile: lstmProfile };
})(typeof globalThis !== "undefined" ? globalThis : window);
