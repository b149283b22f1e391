// Result page.
// 1. While the prediction is pending, ask the API for it with ?wait=N: the server holds
//    the request open until the worker answers (or N seconds pass), so this is a long
//    poll, not a polling loop. When it is finished, reload to show the server-rendered
//    result. Network trouble backs off exponentially, up to 30 s between tries; an answer
//    with Retry-After (the server's wait slots were full) is followed after that delay.
// 2. The feedback form only asks "what is it really?" once "No" is chosen.
// 3. The top-5 bars get their lengths from their data-score.
(function () {
  "use strict";
  var result = document.getElementById("result");
  var pending = ["queued", "running"];
  // Status names in the page's language, from data-status-queued="…" etc. on #result.
  var labels = result ? result.dataset : {};

  function capitalised(word) {
    return word.charAt(0).toUpperCase() + word.slice(1);
  }

  var retryAfter = 0;

  // Queue position and time estimate (the sentences come translated from the server;
  // only the numbers change here).
  function showStanding(prediction) {
    var positionLine = document.getElementById("queue-position-line");
    var etaLine = document.getElementById("queue-eta-line");
    var position = prediction.queue_position;
    var eta = prediction.estimated_seconds;
    if (positionLine) {
      positionLine.hidden = !(position >= 1);
      if (position >= 1) document.getElementById("queue-position").textContent = position;
    }
    if (etaLine) {
      etaLine.hidden = eta === null || eta === undefined;
      if (!etaLine.hidden) document.getElementById("queue-eta").textContent = Math.round(eta);
    }
  }

  function waitForResult(url, attempt) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          // Logged out or gone: a reload shows the right page (login or not found).
          window.location.reload();
          return null;
        }
        // 202 + Retry-After: the server had no wait slot free and answered at once.
        retryAfter = parseInt(response.headers.get("Retry-After") || "0", 10) || 0;
        return response.ok ? response.json() : Promise.reject(response.status);
      })
      .then(function (prediction) {
        if (!prediction) return;
        if (pending.indexOf(prediction.status) === -1) {
          window.location.reload();
          return;
        }
        var status = document.getElementById("status");
        if (status) status.textContent = labels["status" + capitalised(prediction.status)] || prediction.status;
        showStanding(prediction);
        setTimeout(function () { waitForResult(url, 0); }, retryAfter * 1000);
      })
      .catch(function () {
        var delay = Math.min(30000, 1000 * Math.pow(2, attempt));
        setTimeout(function () { waitForResult(url, attempt + 1); }, delay);
      });
  }

  // Bar lengths come from data-score (no inline style attributes: the CSP forbids them).
  document.querySelectorAll("#top5 li[data-score]").forEach(function (item) {
    var fill = item.querySelector(".bar-fill");
    if (fill) fill.style.width = item.dataset.score + "%";
  });

  if (result && pending.indexOf(result.dataset.status) !== -1) {
    waitForResult(result.dataset.pollUrl + "?wait=" + (result.dataset.wait || "15"), 0);
  }

  var form = document.getElementById("feedback-form");
  var label = document.getElementById("id_correct_label");
  if (form && label) {
    var field = label.closest(".field");
    var sync = function () {
      var wrong = form.querySelector('input[name="is_correct"][value="false"]');
      field.hidden = !(wrong && wrong.checked) && !label.value;
    };
    form.addEventListener("change", sync);
    sync();
  }
})();
