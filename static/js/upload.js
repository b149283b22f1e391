// Shows the chosen photo before it is sent, and prevents double submits.
(function () {
  const input = document.getElementById("id_image");
  const preview = document.getElementById("preview");
  const hint = document.getElementById("drop-hint");
  const form = document.getElementById("upload-form");
  if (!input || !preview) return;
  input.addEventListener("change", function () {
    const file = input.files && input.files[0];
    if (!file) { preview.hidden = true; return; }
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    hint.textContent = file.name;
  });
  form.addEventListener("submit", function () {
    document.getElementById("classify-button").disabled = true;
  });
})();
