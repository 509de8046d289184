// The decision form (partials/decision_form.html) offers only the reasons of the outcome
// chosen, and asks for the comment length that outcome needs. The server refuses a
// mismatched pair or a short comment anyway (domain/narratives.py): this only helps.
// A static file, loaded by base.html: the CSP allows no inline script.
(function () {
  "use strict";

  function chosenOutcome(form) {
    var checked = form.querySelector("input[name=outcome]:checked");
    return checked ? checked.value : null;
  }

  function followOutcome(form) {
    var outcome = chosenOutcome(form);
    var select = form.querySelector("select[name=reason]");
    if (select) {
      var offered = 0;
      select.querySelectorAll("optgroup[data-outcome]").forEach(function (group) {
        var on = outcome === null || group.dataset.outcome === outcome;
        group.hidden = !on;
        group.disabled = !on;
        if (on) offered += 1;
      });
      var picked = select.selectedOptions[0];
      if (picked && picked.parentElement.disabled) {
        // The same code may be a reason of the chosen outcome too ("other").
        var twin = null;
        select.querySelectorAll("optgroup[data-outcome] option").forEach(function (option) {
          if (!option.parentElement.disabled && option.value === picked.value) twin = option;
        });
        (twin || select.options[0]).selected = true;
      }
      // An outcome without reasons (escalate, approve) takes none.
      select.disabled = outcome !== null && offered === 0;
      if (select.disabled) select.options[0].selected = true;
    }
    var comment = form.querySelector("textarea[name=comment]");
    if (comment) {
      var minimums = {};
      try {
        minimums = JSON.parse(form.dataset.commentMin || "{}");
      } catch (ignored) {
        minimums = {};
      }
      var needed = (outcome && minimums[outcome]) || 0;
      if (needed) {
        comment.minLength = needed;
        comment.required = true;
      } else {
        comment.removeAttribute("minlength");
        comment.required = false;
      }
    }
  }

  function followAll(root) {
    if (root.matches && root.matches("form.decision-form")) followOutcome(root);
    if (root.querySelectorAll) root.querySelectorAll("form.decision-form").forEach(followOutcome);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name !== "outcome") return;
    var form = target.closest("form.decision-form");
    if (form) followOutcome(form);
  });
  // New content from htmx (a case page swapped in, a refused form swapped back).
  document.addEventListener("htmx:load", function (event) {
    followAll(event.target);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      followAll(document);
    });
  } else {
    followAll(document);
  }
})();
