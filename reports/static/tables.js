/* restorebench: sortable, filterable tables with metric toggles, offline (no library, no network).
 *
 * Every table in the page content becomes sortable: click (or press Enter on) a column header to
 * sort by it; click again to reverse. A metric column sorts best first on the first click: its
 * header says which way is better (data-rb-dir="desc" for higher-is-better, "asc" for lower).
 * Cells sort as numbers when the column's cells start with a number ("31.20 [30.8, 31.6]",
 * "−0.5", "∞", "=2"), else as text; empty cells and "—" always go last; equal keys keep their
 * order, so ties stay together.
 * Tables with metric columns get a row of check boxes that show or hide each metric; a metric
 * column without a single value ("—" everywhere) starts hidden. Tables with eight rows or more get
 * a filter box that hides the rows not containing its text.
 */
(function () {
  "use strict";

  var MISSING = /^(—|-|n\/a)?$/;
  var tableCount = 0;
  var MIN_ROWS_FOR_FILTER = 8; // short tables (properties, a few methods) are read at a glance
  var NUMBER = /^[-+\u2212]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?/i;

  function cellKey(cell) {
    var text = (cell ? cell.textContent : "").trim().replace(/^=/, "");
    if (MISSING.test(text)) return { missing: true, text: "", number: NaN };
    var number = NaN;
    if (/^\u2212?\u221e/.test(text)) number = text.charAt(0) === "\u2212" ? -Infinity : Infinity;
    else {
      var match = text.replace(/^\u2212/, "-").match(NUMBER);
      if (match) number = parseFloat(match[0]);
    }
    return { missing: false, text: text.toLowerCase(), number: number };
  }

  function sortTable(table, column, descending) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, index) {
      return { row: row, index: index, key: cellKey(row.cells[column]) };
    });
    var numeric = keyed.every(function (k) { return k.key.missing || !isNaN(k.key.number); });
    keyed.sort(function (a, b) {
      if (a.key.missing !== b.key.missing) return a.key.missing ? 1 : -1;
      var order = 0;
      if (!a.key.missing) {
        if (numeric) order = a.key.number === b.key.number ? 0 : (a.key.number < b.key.number ? -1 : 1);
        else order = a.key.text.localeCompare(b.key.text, undefined, { numeric: true });
        if (descending) order = -order;
      }
      return order || a.index - b.index;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
  }

  function direction(header) {
    var marked = header.querySelector("[data-rb-dir]");
    return marked ? marked.getAttribute("data-rb-dir") : "";
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tHead.rows.length || table.dataset.rbSortable) return;
    table.dataset.rbSortable = "1";
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (header, column) {
      header.classList.add("rb-sortable");
      header.setAttribute("tabindex", "0");
      header.setAttribute("aria-sort", "none");
      header.title = "Sort by this column";
      function activate() {
        var state = header.getAttribute("aria-sort");
        var descending = state === "none" ? direction(header) === "desc" : state === "ascending";
        headers.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        header.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortTable(table, column, descending);
      }
      header.addEventListener("click", activate);
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); activate(); }
      });
    });
  }

  function anchorOf(table) {
    return table.closest(".md-typeset__scrollwrap") || table;
  }

  function setColumn(table, column, shown) {
    Array.prototype.forEach.call(table.rows, function (row) {
      if (row.cells[column]) row.cells[column].classList.toggle("rb-hidden", !shown);
    });
  }

  function addToggles(table) {
    if (!table.tHead || table.dataset.rbToggles) return;
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var metrics = headers.map(function (h, i) { return h.querySelector("[data-rb-dir]") ? i : -1; })
      .filter(function (i) { return i >= 0; });
    if (metrics.length < 2) return;
    table.dataset.rbToggles = "1";
    if (!table.id) table.id = "rb-table-" + (++tableCount);
    var bar = document.createElement("div");
    bar.className = "rb-toggles";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Metric columns to show");
    var body = table.tBodies[0];
    metrics.forEach(function (column) {
      var empty = body && Array.prototype.every.call(body.rows, function (row) { return cellKey(row.cells[column]).missing; });
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox";
      box.checked = !empty;
      box.setAttribute("aria-controls", table.id);
      box.addEventListener("change", function () { setColumn(table, column, box.checked); });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + headers[column].textContent.trim() + (empty ? " (no scores)" : "")));
      bar.appendChild(label);
      if (empty) setColumn(table, column, false);
    });
    var anchor = anchorOf(table);
    anchor.parentNode.insertBefore(bar, anchor);
  }

  function addFilter(table) {
    var body = table.tBodies[0];
    if (!body || body.rows.length < MIN_ROWS_FOR_FILTER || table.dataset.rbFilter) return;
    table.dataset.rbFilter = "1";
    var box = document.createElement("div");
    box.className = "rb-filter";
    if (!table.id) table.id = "rb-table-" + (++tableCount);
    var input = document.createElement("input");
    input.type = "search";
    input.setAttribute("aria-controls", table.id);
    input.placeholder = "Filter rows\u2026";
    input.setAttribute("aria-label", "Filter table rows");
    var count = document.createElement("span");
    count.className = "rb-filter-count";
    box.appendChild(input);
    box.appendChild(count);
    var anchor = anchorOf(table);
    anchor.parentNode.insertBefore(box, anchor);
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(body.rows, function (row) {
        var match = !query || row.textContent.toLowerCase().indexOf(query) !== -1;
        row.hidden = !match;
        if (match) shown += 1;
      });
      count.textContent = query ? shown + " of " + body.rows.length + " rows" : "";
    });
  }

  function init() {
    var tables = document.querySelectorAll(".md-content table");
    Array.prototype.forEach.call(tables, function (table) {
      makeSortable(table);
      addToggles(table);
      addFilter(table);
    });
  }

  // Material's instant navigation (if a maintainer turns it on) swaps pages without a reload.
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(init);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
