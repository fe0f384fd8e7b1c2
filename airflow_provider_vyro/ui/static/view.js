// Show a card's full image over the page on click; Escape, a click or the button closes it.
(function () {
  "use strict";
  function ready() {
    var box = document.getElementById("lightbox");
    if (!box) { return; }
    var full = box.querySelector("img");
    function close() { box.hidden = true; full.removeAttribute("src"); }
    document.querySelectorAll("a.open").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey) { return; }
        event.preventDefault();
        full.src = link.getAttribute("href");
        full.alt = link.querySelector("img") ? link.querySelector("img").alt : "";
        box.hidden = false;
      });
    });
    box.addEventListener("click", close);
    document.addEventListener("keydown", function (event) { if (event.key === "Escape") { close(); } });
    document.querySelectorAll("img.thumb").forEach(function (img) {
      img.addEventListener("error", function () {
        var note = document.createElement("div");
        note.className = "missing";
        note.textContent = "this file cannot be shown (deleted, or not an image)";
        img.closest("figure").replaceChild(note, img.closest("a") || img);
      });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
})();
