// An undo offer is shown for a few seconds, then withdrawn: the message of what happened stays.
// Without JS the offer stays on the page; the server refuses an undo after its window anyway.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-undo-seconds]").forEach(function (offer) {
    var seconds = parseInt(offer.getAttribute("data-undo-seconds"), 10) || 10;
    window.setTimeout(function () {
      var form = offer.querySelector("form");
      if (form) form.remove();
    }, seconds * 1000);
  });
});
