// leadflow dashboard: the little script there is. Pages work without it.
// A form that is being submitted shows it (busy button) and cannot be sent twice.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.dataset.submitting === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.submitting = "1";
  var button = event.submitter || form.querySelector("button[type=submit]");
  if (button) {
    button.setAttribute("aria-busy", "true");
    if (button.dataset.busyText) button.textContent = button.dataset.busyText;
  }
});
// Back/forward cache: a page restored from it must accept its forms again.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-submitting]").forEach(function (form) {
    delete form.dataset.submitting;
    form.querySelectorAll("[aria-busy]").forEach(function (b) { b.removeAttribute("aria-busy"); });
  });
});
