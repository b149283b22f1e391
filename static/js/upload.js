// Upload page: drag-and-drop onto the drop zone, a preview of the chosen photo, a size
// check before sending, and a disabled "Uploading…" button while the form is sent.
// A file the browser cannot show as an image (a text file named photo.jpg, a truncated
// download) gets a message instead of a broken preview, and is not sent.
// Without JavaScript the plain file input and form still work.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var input = document.getElementById("id_image");
  var zone = document.getElementById("drop-zone");
  if (!form || !input || !zone) return;
  var preview = document.getElementById("preview");
  var hint = document.getElementById("drop-hint");
  var errors = document.getElementById("image-errors");
  var button = document.getElementById("classify-button");
  var buttonText = button.textContent;
  var maxBytes = parseInt(zone.dataset.maxBytes, 10) || 0;
  // Messages in the page's language, from data-msg-*="…" on the drop zone.
  var text = zone.dataset;
  var previewUrl = null;
  var unreadable = null; // the chosen file, once the browser failed to decode it

  function showError(message) {
    errors.textContent = "";
    zone.classList.toggle("has-error", Boolean(message));
    if (!message) return;
    var list = document.createElement("ul");
    list.className = "errorlist";
    var item = document.createElement("li");
    item.textContent = message;
    list.appendChild(item);
    errors.appendChild(list);
  }

  function check(file) {
    if (!file) return text.msgNoFile;
    if (file === unreadable) return text.msgUnreadable;
    if (file.type && file.type.indexOf("image/") !== 0) {
      return text.msgNotImage;
    }
    if (maxBytes && file.size > maxBytes) {
      return text.msgTooLarge;
    }
    return "";
  }

  function showFile() {
    var file = input.files && input.files[0];
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    unreadable = null;
    if (!file) {
      preview.hidden = true;
      zone.classList.remove("has-file");
      return;
    }
    showError(check(file));
    hint.textContent = file.name;
    zone.classList.add("has-file");
    if (file.type.indexOf("image/") === 0) {
      previewUrl = URL.createObjectURL(file);
      preview.src = previewUrl;
      preview.hidden = false;
    } else {
      preview.hidden = true;
    }
  }

  input.addEventListener("change", showFile);

  // The browser could not decode it: no broken-image icon, a message saying why.
  preview.addEventListener("error", function () {
    if (!previewUrl) return;
    unreadable = input.files && input.files[0];
    URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.hidden = true;
    preview.removeAttribute("src");
    zone.classList.remove("has-file");
    showError(text.msgUnreadable);
  });

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "dragend"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
    });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("dragging");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    var transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    showFile();
  });
  // A photo dropped beside the zone should not make the browser navigate to it.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });

  form.addEventListener("submit", function (event) {
    var problem = check(input.files && input.files[0]);
    if (problem) {
      event.preventDefault();
      showError(problem);
      input.focus();
      return;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = text.msgUploading;
  });

  // Coming back with the Back button restores the page from cache: make it usable again.
  window.addEventListener("pageshow", function () {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = buttonText;
  });
})();
