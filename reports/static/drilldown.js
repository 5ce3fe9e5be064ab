/* restorebench drill-down: every zoom crop shows the same region (in relative coordinates, so an
 * LR input and a ×4 output show the same part of the scene) of its own image, magnified. The
 * region follows the pointer over any native image, or a tap; it starts at the centre. */
(function () {
  "use strict";
  var fx = 0.5, fy = 0.5;

  function place(zoom) {
    var img = zoom.querySelector(".rb-zoom-img");
    var factor = parseFloat(zoom.getAttribute("data-zoom")) || 4;
    var w = parseFloat(img.getAttribute("data-width")) * factor;
    var h = parseFloat(img.getAttribute("data-height")) * factor;
    img.style.width = w + "px";
    img.style.height = h + "px";
    var left = Math.min(0, Math.max(zoom.clientWidth - w, zoom.clientWidth / 2 - fx * w));
    var top = Math.min(0, Math.max(zoom.clientHeight - h, zoom.clientHeight / 2 - fy * h));
    img.style.transform = "translate(" + left + "px," + top + "px)";
  }

  function update() {
    Array.prototype.forEach.call(document.querySelectorAll(".rb-zoom"), place);
  }

  function follow(event) {
    var box = event.currentTarget.getBoundingClientRect();
    fx = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    fy = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
    update();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".rb-native"), function (img) {
      img.addEventListener("pointermove", follow);
      img.addEventListener("pointerdown", follow);
    });
    update();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
