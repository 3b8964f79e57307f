// The marketer pages swap partials in with htmx (live count, inline rename). htmx leaves 4xx
// answers unswapped by default; here a refused rename or an impossible rule (400), or a name
// already taken (409), shows its message instead of the change silently doing nothing.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 400 || status === 403 || status === 404 || status === 409) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
