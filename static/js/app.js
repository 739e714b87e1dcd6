// Small progressive enhancements. Loaded as a file (no inline script under the CSP).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) {
    window.print();
  }
});

// Bulk actions on /plans/: a "select all on this page" box, and only the fields of the chosen action.
// Without JavaScript every box and field is simply shown; the server checks everything anyway.
function enhanceBulk(root) {
  root.querySelectorAll("[data-select-all]").forEach((box) => {
    box.hidden = false;
  });
  root.querySelectorAll("form.bulk-form").forEach((form) => {
    const action = form.querySelector("select[name=action]");
    if (!action) return;
    const show = () => {
      form.querySelectorAll("[data-bulk-action]").forEach((set) => {
        set.hidden = set.dataset.bulkAction !== action.value;
      });
    };
    action.addEventListener("change", show);
    show();
  });
}
document.addEventListener("DOMContentLoaded", () => enhanceBulk(document));
document.addEventListener("htmx:afterSwap", (event) => enhanceBulk(event.target));
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  document.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`).forEach((box) => {
    box.checked = all.checked;
  });
});
