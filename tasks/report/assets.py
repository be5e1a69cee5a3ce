"""The report's stylesheet and script: static files written beside the pages, nothing fetched at view time.

The script is plain JavaScript with no library: sorting and filtering a
table, pan and zoom of an SVG by its viewBox, and a search over the nodes'
tensor names are a few dozen lines each, and the graph's layout is computed
when the report is built (tasks/report/graph.py), so the page needs no
layout engine.  Nothing to vendor, pin or update; it works from file://.

A line ending in a backslash continues on the next line, whose indentation is
dropped: a line too long to read here is one line in the file written.
"""

import re


def _joined(text: str) -> str:
    """``text`` with each backslash-newline and the spaces after it removed."""
    return re.sub(r"\\\n *", "", text)


CSS = _joined(r"""
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem 2rem;color:#1d2430;background:#fff}
h1{font-size:1.5rem;margin:0 0 .2rem}\
h2{margin-top:2rem;border-bottom:2px solid #e4e8ee;padding-bottom:.2rem;font-size:1.2rem}
a{color:#2457a6}table{border-collapse:collapse;margin:.6rem 0;font-size:.84rem}
th,td{border:1px solid #d5dbe3;padding:.25rem .45rem;text-align:right}
th{background:#eef2f7;position:sticky;top:0;z-index:1}td.l,th.l{text-align:left}
table.fit{width:100%;table-layout:fixed}table.fit td.l{overflow-wrap:anywhere}
th.sortable{cursor:pointer;user-select:none}th.sortable:after{content:' ⇅';color:#9aa5b4}
th[aria-sort=ascending]:after{content:' ▲';color:#1d2430}th[aria-sort=descending]:after{content:' ▼';color:#1d2430}
tr.bad td,tr.fail td{background:#fdecec}
.verdict{margin:.6rem 0 1rem;padding:.5rem .8rem;border-left:6px solid #9aa5b4;background:#f4f6f9}
.verdict.pass{border-color:#1e7b34;background:#edf7ef}.verdict.fail{border-color:#b3261e;background:#fdecec}
.verdict table{background:#fff}span.failed,span.gatefail{color:#b3261e;font-weight:600}span.built{color:#1d2430}
svg.plot text.label{font-size:10px;fill:#3c4654}
td.reg{color:#b3261e;font-weight:600}td.imp{color:#1e7b34}
.kind{font-weight:600}.muted{color:#66707d}.cpu{color:#b3261e;font-weight:600}
.filters{display:flex;gap:.8rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
.filters select,.filters input,.toolbar input,.toolbar button{font:inherit;padding:.2rem .4rem}
.viewer{display:flex;gap:1rem;align-items:flex-start}
.canvas{flex:1;min-width:0;height:72vh;border:1px solid #d5dbe3;border-radius:6px;overflow:hidden;background:#fafbfc}
.canvas svg{width:100%;height:100%;cursor:grab;display:block}.canvas svg.dragging{cursor:grabbing}
aside#details{width:340px;flex:none;font-size:.84rem;max-height:72vh;overflow:auto;\
border:1px solid #d5dbe3;border-radius:6px;padding:.6rem}
.toolbar{display:flex;gap:.6rem;align-items:center;margin:.4rem 0;flex-wrap:wrap}
.legend span{display:inline-block;padding:.05rem .45rem;border-radius:4px;margin-right:.3rem;font-size:.8rem}
g.node rect{stroke:#24364f;stroke-width:1}g.node text{font-size:11px;fill:#fff;pointer-events:none}
g.node text.sub{font-size:9.5px;opacity:.9}g.node{cursor:pointer}
g.node.npu rect,.legend .npu{fill:#2d5fa8;background:#2d5fa8;color:#fff}
g.node.fused rect,.legend .fused{fill:#8fa7c9;background:#8fa7c9;color:#fff}
g.node.cpu rect,.legend .cpu-op{fill:#c62f2f;background:#c62f2f;color:#fff}
g.node.delegate rect{fill:#5a6b82}
g.node.hit rect{stroke:#f2b600;stroke-width:4}g.node.selected rect{stroke:#000;stroke-width:3}
path.edge{fill:none;stroke:#9aa5b4;stroke-width:1.2}path.edge.copy{stroke:#e07b00;stroke-width:3.5}
text.copy-label{font-size:10px;fill:#b35f00;font-weight:600}
.legend .copy{background:#e07b00;color:#fff}
.legend .by-error{display:none}.errors .legend .by-error{display:inline-block}.errors .legend .by-place{display:none}
.errors g.node rect{fill:#9aa5b1;fill-opacity:1 !important}\
.errors g.node.e0 rect,.legend .e0{fill:#1b7a3a;background:#1b7a3a;color:#fff}
.errors g.node.e1 rect,.legend .e1{fill:#6aa84f;background:#6aa84f;color:#fff}
.errors g.node.e2 rect,.legend .e2{fill:#d9a400;background:#d9a400;color:#fff}
.errors g.node.e3 rect,.legend .e3{fill:#e06c00;background:#e06c00;color:#fff}
.errors g.node.e4 rect,.legend .e4{fill:#b3261e;background:#b3261e;color:#fff}
.errors g.node.b16 rect,.legend .b16{stroke:#5b2a86;stroke-width:4;outline:3px solid #5b2a86}
g.partition rect{fill:#2d5fa8;fill-opacity:.05;stroke:#2d5fa8;stroke-dasharray:5 4;stroke-opacity:.6}
g.partition text{font-size:11px;fill:#2d5fa8}
svg.plot circle{fill:#2d5fa8;fill-opacity:.75;stroke:#fff}svg.plot a:hover circle{fill:#e07b00;fill-opacity:1}
svg.plot text{font-size:11px;fill:#3c4654}svg.plot line{stroke:#d5dbe3}
svg.plot line.goal{stroke:#b8860b;stroke-dasharray:6 4}\
svg.plot polyline.front{fill:none;stroke:#2d5fa8;stroke-width:1.5}
svg.plot circle.stage-8bit{fill:#7a7a7a}svg.plot circle.stage-16bit{fill:#6a3d9a}\
svg.plot circle.stage-narrow{fill:#1b9e77}
svg.plot circle.chosen{fill:none;stroke:#e07b00;stroke-width:3}
svg.plot .pr{fill:none;stroke-width:2.2}svg.plot .pr.float{stroke:#7a7a7a;stroke-dasharray:6 4}\
svg.plot .pr.quantized{stroke:#e07b00}svg.plot circle.pr.float{fill:#7a7a7a}svg.plot circle.pr.quantized{fill:#e07b00}
svg.confusion{display:block;margin:.4rem 0}svg.confusion text{fill:#1d2430}svg.confusion text.axis{fill:#3c4654}
svg.confusion g.cell rect{stroke:#d5dbe3;stroke-width:1}
pre.snippet{background:#f4f6f9;padding:.6rem;overflow-x:auto;max-height:14rem;font-size:12px}
details summary{cursor:pointer}aside#details code{overflow-wrap:anywhere}aside#details ul{padding-left:1.1rem}
""")

JS = _joined(r"""
"use strict";
(function () {
  function text(cell) { return cell.getAttribute("data-v") || cell.textContent.trim(); }
  function sortable(table) {
    var heads = table.querySelectorAll("th.sortable");
    heads.forEach(function (th) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var index = Array.prototype.indexOf.call(th.parentNode.children, th);
        var numeric = th.classList.contains("num");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = text(a.cells[index]), y = text(b.cells[index]);
          if (numeric) {
            x = x === "" ? Infinity : parseFloat(x); y = y === "" ? Infinity : parseFloat(y);
            return asc ? x - y : y - x;
          }
          return asc ? x.localeCompare(y) : y.localeCompare(x);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  function filters(table) {
    var boxes = document.querySelectorAll("[data-filter]");
    function apply() {
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var ok = true;
        boxes.forEach(function (box) {
          var want = box.value.trim().toLowerCase(), key = box.getAttribute("data-filter");
          if (!want) return;
          var have = (row.getAttribute("data-" + key) || "").toLowerCase();
          if (key === "text" ? have.indexOf(want) < 0 : have !== want) ok = false;
        });
        row.hidden = !ok;
        if (ok) shown++;
      });
      var count = document.getElementById("shown");
      if (count) count.textContent = shown + " shown";
    }
    boxes.forEach(function (box) { box.addEventListener("input", apply); });
    apply();
  }
  function viewer() {
    var canvas = document.querySelector(".canvas");
    if (!canvas) return;
    var data = JSON.parse(document.getElementById("nodes").textContent);
    var panel = document.getElementById("details");
    var current = null, box = null;
    function show(svg) {
      document.querySelectorAll(".canvas svg").forEach(function (s) { s.style.display = s === svg ? "" : "none"; });
      current = svg; fit();
    }
    function set(b) { box = b; current.setAttribute("viewBox", b.join(" ")); }
    function fit() {
      var w = +current.getAttribute("data-width"), r = canvas.clientHeight / Math.max(canvas.clientWidth, 1);
      set([0, 0, w, w * r]);
    }
    function point(evt) {
      var rect = current.getBoundingClientRect();
      return [box[0] + (evt.clientX - rect.left) / rect.width * box[2], \
              box[1] + (evt.clientY - rect.top) / rect.height * box[3]];
    }
    canvas.addEventListener("wheel", function (evt) {
      evt.preventDefault();
      var p = point(evt), k = evt.deltaY > 0 ? 1.15 : 1 / 1.15;
      set([p[0] - (p[0] - box[0]) * k, p[1] - (p[1] - box[1]) * k, box[2] * k, box[3] * k]);
    }, {passive: false});
    var drag = null;
    canvas.addEventListener("mousedown", function (evt) { drag = [evt.clientX, evt.clientY, box.slice()]; \
                current.classList.add("dragging"); });
    window.addEventListener("mouseup", function () { drag = null; if (current) current.classList.remove("dragging"); });
    window.addEventListener("mousemove", function (evt) {
      if (!drag) return;
      var rect = current.getBoundingClientRect(), b = drag[2];
      set([b[0] - (evt.clientX - drag[0]) / rect.width * b[2], \
           b[1] - (evt.clientY - drag[1]) / rect.height * b[3], b[2], b[3]]);
    });
    function centre(node) {
      var t = node.getAttribute("transform").match(/translate\(([-\d.]+),([-\d.]+)\)/);
      var rect = node.querySelector("rect");
      set([+t[1] + rect.width.baseVal.value / 2 - box[2] / 2, \
           +t[2] + rect.height.baseVal.value / 2 - box[3] / 2, box[2], box[3]]);
    }
    function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }
    function tensors(list) {
      return list.map(function (t) { return "<li><code>" + esc(t.name) + "</code> " \
        + esc(JSON.stringify(t.shape)) + " " + esc(t.dtype) + "</li>"; }).join("");
    }
    function finding(d) {
      if (d.find === undefined) {
        d.find = d.members ? d.members.map(function (k) { return finding(data[k]); }).join(" ")
          : (d.name + " " + d.type + " " + d.inputs.concat(d.outputs)\
              .map(function (t) { return t.name; }).join(" ")).toLowerCase();
      }
      return d.find;
    }
    function select(node) {
      document.querySelectorAll("g.node.selected").forEach(function (n) { n.classList.remove("selected"); });
      node.classList.add("selected");
      var d = data[node.getAttribute("data-key")], h = \
          "<h3>" + esc(d.type) + "</h3><p><code>" + esc(d.name) + "</code></p>";
      var places = {NPU: "on the NPU", CPU: "on the CPU (Vela cannot map it)", \
                    fused: "on the NPU, fused by Vela into its neighbour"};
      h += "<p><b>" + esc(places[d.where] || "run by " + d.where + " (no Vela)") + "</b>";
      if (d.cycles) h += ", " + d.cycles.toLocaleString() + " cycles (" + d.cycles_pct + " %)";
      h += "</p>";
      if (d.summary) h += "<p>" + esc(d.summary) + "</p>";
      if (d.error) h += "<p>Quantization error: " + esc(d.error) + "</p>";
      if (d.reason) h += "<p class='cpu'>On the CPU: " + esc(d.reason) \
          + "</p><p><b>What to do:</b> " + esc(d.remedy) + "</p>";
      if (d.parts && d.parts.length) h += "<details><summary>" + d.parts.length \
          + " parts Vela lowered it into</summary><ol>" +
        d.parts.map(function (p) { return "<li>" + esc(p.op) + ": " + p.cycles + " cycles</li>"; }).join("") \
          + "</ol></details>";
      if (d.members) {
        var first = data[d.members[0]], last = data[d.members[d.members.length - 1]];
        h += "<p>" + d.members.length + " operators, from <code>" + esc(first.name) + "</code></p>";
        d = {inputs: first.inputs, outputs: last.outputs};
      }
      h += "<p>Inputs</p><ul>" + tensors(d.inputs) + "</ul><p>Outputs</p><ul>" + tensors(d.outputs) + "</ul>";
      panel.innerHTML = h;
    }
    document.querySelectorAll("g.node").forEach(function (node) {
      node.addEventListener("click", function () { select(node); });
    });
    var search = document.getElementById("search");
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase(), first = null, count = 0;
      current.querySelectorAll("g.node").forEach(function (node) {
        var d = data[node.getAttribute("data-key")];
        var hit = q && finding(d).indexOf(q) >= 0;
        node.classList.toggle("hit", !!hit);
        if (hit) { count++; if (!first) first = node; }
      });
      document.getElementById("hits").textContent = q ? count + " found" : "";
      if (first) { centre(first); select(first); }
    });
    document.getElementById("fit").addEventListener("click", fit);
    var toggle = document.getElementById("collapse");
    toggle.addEventListener("change", function () {
      show(document.getElementById(toggle.checked ? "graph-collapsed" : "graph-full"));
    });
    show(document.getElementById(toggle.checked ? "graph-collapsed" : "graph-full"));
    var errors = document.getElementById("errors");
    if (errors) {
      var paint = function () { document.body.classList.toggle("errors", errors.checked); };
      errors.addEventListener("change", paint);
      paint();
    }
  }
  document.querySelectorAll("table.sorted").forEach(sortable);
  var table = document.getElementById("variants");
  if (table) filters(table);
  viewer();
})();
""")
