// Arrow keys move between the search box and its results; Enter opens the focused result.
document.addEventListener("keydown", function (event) {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  var box = document.getElementById("q");
  var links = Array.prototype.slice.call(document.querySelectorAll("#results a.result"));
  if (!box || links.length === 0) return;
  var index = links.indexOf(document.activeElement);
  if (document.activeElement === box && event.key === "ArrowDown") {
    links[0].focus();
  } else if (index >= 0 && event.key === "ArrowDown" && index < links.length - 1) {
    links[index + 1].focus();
  } else if (index > 0 && event.key === "ArrowUp") {
    links[index - 1].focus();
  } else if (index === 0 && event.key === "ArrowUp") {
    box.focus();
  } else {
    return;
  }
  event.preventDefault();
});
