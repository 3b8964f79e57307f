// The way back from a refused form (templates/error.html): the browser's own Back when the page
// before this one is that form, so what was typed in it is still there; else the link itself.
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("a[data-history-back]") : null;
  if (!link || window.history.length < 2 || !document.referrer) return;
  var target = new URL(link.href, window.location.href);
  var previous = new URL(document.referrer);
  if (previous.origin !== window.location.origin || previous.pathname !== target.pathname) return;
  event.preventDefault();
  window.history.back();
});
