// While a prediction is pending, wait for it through the API (the server holds the
// request open until the worker answers, so this is not a polling loop), then reload.
(function () {
  const result = document.getElementById("result");
  if (!result) return;
  const pending = ["queued", "running"];
  if (pending.indexOf(result.dataset.status) === -1) return;
  const url = result.dataset.pollUrl + "?wait=25";
  function waitForResult(attempt) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (prediction) {
        if (pending.indexOf(prediction.status) === -1) { window.location.reload(); return; }
        const status = document.getElementById("status");
        if (status) status.textContent = prediction.status;
        waitForResult(0);
      })
      .catch(function () {
        // Server unreachable for a moment: back off, up to 30 s between tries.
        setTimeout(function () { waitForResult(attempt + 1); }, Math.min(30000, 1000 * 2 ** attempt));
      });
  }
  waitForResult(0);
})();
