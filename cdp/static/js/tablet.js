// The tablet configurator swaps its choices in with htmx. htmx leaves 4xx answers unswapped by
// default; here a refused choice (400) or a closed session (403, 409) shows its message instead
// of the tap silently doing nothing.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 400 || status === 403 || status === 404 || status === 409) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
