/* The console's few behaviours, as delegated handlers keyed on data- attributes (the CSP allows no inline script).
 *   data-check-all="ids"   a checkbox that ticks or clears every input[name=ids] on the page
 *   data-autosubmit        a select that sends its form when changed
 *   data-once              a form whose submit button is disabled once sent (given back when the page is restored)
 *   data-confirm="…"       a button or link that asks first, and does nothing unless confirmed
 *   data-print             a button that prints the page
 *   data-reset-on-send     an htmx form emptied as its request goes (the values are already taken)
 *   data-focus-after="f"   an htmx form whose field f gets the focus back when its request ends
 */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var all = target.closest("input[data-check-all]");
    if (all) {
      document.querySelectorAll('input[name="' + all.dataset.checkAll + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    }
    var asking = target.closest("[data-confirm]");
    if (asking && !window.confirm(asking.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    if (target.closest("[data-print]")) { window.print(); }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-once")) {
      form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
    }
  });

  // A page restored by the back button gets its buttons back (a resent form answers the same).
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once] button[type=submit]").forEach(function (button) {
      button.disabled = false;
    });
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-reset-on-send")) { form.reset(); }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.focusAfter) {
      var field = form.elements.namedItem(form.dataset.focusAfter);
      if (field instanceof HTMLElement) { field.focus(); }
    }
  });
})();
