/* The /rnn page: edit the parameters, the sequence and the learning rate of Problems 3 and 5; the graph,
   the loss, the gradients and the gradient step are recomputed at once by nnscopeBPTT (bptt-graph.js). */
"use strict";
(function () {
  var EDITABLE = { rnn: ["b", "c", "W", "U", "V", "x"], lstm: ["b_f", "b_g", "b_o", "b", "c", "W", "U", "V", "x"] };

  /* Check the edited parameters against the sizes the network needs; an error names the field. */
  function check(network, p, maxSteps) {
    function shape(v) { return Array.isArray(v) ? [v.length].concat(v.length && Array.isArray(v[0]) ? [v[0].length] : []) : []; }
    function numbers(name, v) {
      (Array.isArray(v) ? [].concat.apply([], v.map(function (r) { return Array.isArray(r) ? r : [r]; })) : [v]).forEach(function (x) {
        if (typeof x !== "number" || !isFinite(x)) throw new Error(name + ": " + JSON.stringify(x) + " found; expected finite numbers");
      });
    }
    if (!Array.isArray(p.b) || !p.b.length) throw new Error("b: expected a list of n numbers");
    var n = p.b.length, d = Array.isArray(p.U) && Array.isArray(p.U[0]) ? p.U[0].length : 0;
    var want = { b: [n], c: [2], W: [n, n], U: [n, d], V: [2, n], b_f: [n], b_g: [n], b_o: [n] };
    EDITABLE[network].forEach(function (k) {
      if (!(k in p)) throw new Error(k + ": missing");
      numbers(k, p[k]);
      if (k === "x") return;
      var s = shape(p[k]);
      if (JSON.stringify(s) !== JSON.stringify(want[k]) || (k === "U" && d < 1)) throw new Error(k + ": shape (" + s.join(", ") + "); expected (" + want[k].join(", ") + ")");
      if (want[k].length === 2 && p[k].some(function (row) { return !Array.isArray(row) || row.length !== want[k][1]; })) throw new Error(k + ": rows of different lengths; expected " + want[k][1] + " each");
    });
    if (!p.x.length || p.x.length > maxSteps) throw new Error("x: " + p.x.length + " steps; expected 1 to " + maxSteps);
    p.x.forEach(function (row, t) { if (!Array.isArray(row) || row.length !== d) throw new Error("x: step " + (t + 1) + " has " + (Array.isArray(row) ? row.length : 0) + " numbers; expected d = " + d); });
    if (!(p.learning_rate > 0) || !isFinite(p.learning_rate)) throw new Error("learning rate: expected a positive number");
  }

  function editor(section) {
    var network = section.dataset.network, maxSteps = Number(section.dataset.maxSteps);
    var start = JSON.parse(document.getElementById("data-bptt-" + network).textContent).params;
    var text = section.querySelector(".params"), rate = section.querySelector(".learning-rate"), error = section.querySelector(".error");
    var graph = section.querySelector(".bptt-graph"), fixed = {};
    function show(params) {
      var edited = {};
      EDITABLE[network].forEach(function (k) { edited[k] = params[k]; });
      Object.keys(params).forEach(function (k) { if (!(k in edited) && k !== "learning_rate") fixed[k] = params[k]; });
      text.value = JSON.stringify(edited).replace(/\],"/g, '],\n"').replace(/,"/g, ', "');
      rate.value = params.learning_rate;
      recompute();
    }
    function current() {
      var p = Object.assign({}, fixed, JSON.parse(text.value));
      p.learning_rate = Number(rate.value);
      p.h0 = (p.h0 && p.h0.length === p.b.length) ? p.h0 : p.b.map(function () { return 0; });
      if (network === "lstm") p.s0 = (p.s0 && p.s0.length === p.b.length) ? p.s0 : p.b.map(function () { return 0; });
      return p;
    }
    function recompute() {
      try {
        var p = current();
        check(network, p, maxSteps);
        var r = nnscopeBPTT.compute(network, p);
        if (!isFinite(r.loss)) throw new Error("the loss is not finite: expected smaller parameters");
        nnscopeBPTT.draw(graph, network, p);
        error.textContent = "";
        section.dataset.valid = "true";
      } catch (e) {
        error.textContent = e instanceof SyntaxError ? "parameters: not valid JSON (" + e.message + ")" : e.message;
        section.dataset.valid = "false";
      }
    }
    text.addEventListener("input", recompute);
    rate.addEventListener("input", recompute);
    section.querySelector(".add-step").addEventListener("click", function () {
      try { var p = current(); if (p.x.length < maxSteps) { p.x.push(p.x[p.x.length - 1].map(function () { return 0; })); show(p); } } catch (e) { recompute(); }
    });
    section.querySelector(".remove-step").addEventListener("click", function () {
      try { var p = current(); if (p.x.length > 1) { p.x.pop(); show(p); } } catch (e) { recompute(); }
    });
    section.querySelector(".reset").addEventListener("click", function () { show(JSON.parse(JSON.stringify(start))); });
    show(JSON.parse(JSON.stringify(start)));
    section.editor = { show: show, current: current };
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".bptt-editor"), editor);
  });
})();
