// django-rq's job lists call django.jQuery(...).actions(), the jQuery plugin Django's admin
// had before 4.1; today's admin/js/actions.js sets up the select-all box and counter itself.
// Deferred, so this runs after django-rq's scripts load and before their ready() callbacks.
(function () {
  "use strict";
  var jq = window.django && window.django.jQuery;
  if (jq && !jq.fn.actions) {
    jq.fn.actions = function () { return this; };
  }
})();
