// ctrnn-bench leaderboard: sortable, filterable tables, with no library and no network.
// Click a column's header to sort by it, again to reverse; the box above a table keeps the
// rows that contain its text. Numbers sort as numbers ("2=" as 2, "0.81 [0.7, 0.9]" as
// 0.81); a dash (no value) sorts last either way.
(function () {
  "use strict";

  function value(cell) {
    var text = cell.textContent.replace(/[*≈†]/g, "").trim();
    if (text === "" || text === "—") return null;
    var m = text.match(/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?/i);
    return m ? parseFloat(m[0]) : text.toLowerCase();
  }

  function compare(a, b) {
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === "number" ? -1 : 1;  // numbers before words
  }

  function sortBy(table, column, header) {
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return { row: row, key: value(row.cells[column]), i: i };
    });
    rows.sort(function (x, y) {
      if (x.key === null || y.key === null) {
        return x.key === y.key ? x.i - y.i : x.key === null ? 1 : -1;
      }
      return (ascending ? 1 : -1) * compare(x.key, y.key) || x.i - y.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }

  function sortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.setAttribute("aria-sort", "none");
      th.addEventListener("click", function () { sortBy(table, column, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, column, th); }
      });
    });
  }

  function filterable(table) {
    var box = document.createElement("input");
    box.type = "search";
    box.className = "filter";
    box.placeholder = "filter rows (model, framework, …)";
    box.setAttribute("aria-label", "filter the rows of the table below");
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = words !== "" && row.textContent.toLowerCase().indexOf(words) < 0;
      });
    });
    var wrap = document.createElement("div");
    wrap.className = "table";
    table.parentNode.insertBefore(wrap, table);
    wrap.appendChild(box);
    wrap.appendChild(table);
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table"), function (table) {
      if (table.tHead && table.tBodies.length) {
        sortable(table);
        filterable(table);
      }
    });
  });
})();
