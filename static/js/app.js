// Small progressive enhancements. Loaded as a file on every page (no inline script under the CSP).

// Print buttons (board pack).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) {
    window.print();
  }
});

// Error summaries: move focus to the summary when a form comes back with errors, so it is read out
// and keyboard users start from it; its links then put focus in the field they name.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
});
// The same for a form that htmx swapped back in with its errors (the discussion on a plan page).
document.addEventListener("htmx:afterSettle", (event) => {
  const root = event.detail.elt && event.detail.elt.isConnected ? event.detail.elt : document;
  root.querySelector(".error-summary")?.focus();
});
document.addEventListener("click", (event) => {
  const link = event.target.closest(".error-summary a[href^='#']");
  const field = link && document.getElementById(link.getAttribute("href").slice(1));
  if (field) {
    event.preventDefault();
    field.closest("details")?.setAttribute("open", "");
    field.focus();
    field.scrollIntoView({ block: "center" });
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
