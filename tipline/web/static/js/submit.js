/*
 * The tip form with JavaScript on: seal the message and every file in the browser
 * (envelope.js), then send only the envelopes to /submit?sealed=browser.
 * Without sodium.js or envelope.js it does nothing, and the form posts as with
 * JavaScript off (the server seals on receipt). No plaintext is ever sent from here.
 */
(function () {
  "use strict";

  var MB = 1024 * 1024;
  var LOST = "The connection was lost before your tip arrived. Nothing was kept. Please try again.";

  function $(id) {
    return document.getElementById(id);
  }

  // A size in MB to one decimal, rounded up or down: a size just over the limit never reads as equal.
  function megabytes(n, round) {
    return +(round(n / MB * 10) / 10).toFixed(1) + " MB";
  }

  function keysOf(form) {
    return form.dataset.recipients.split(",").filter(Boolean).map(function (k) {
      return Uint8Array.from(atob(k), function (c) {
        return c.charCodeAt(0);
      });
    });
  }

  function problem(form, text, files) {
    var maxFiles = +form.dataset.maxFiles;
    var maxBytes = +form.dataset.maxBytes;
    var size = files.reduce(function (n, f) {
      return n + f.size;
    }, 0);
    if (!text.trim() && !files.length) return "Please write a message or attach a file before sending.";
    if (files.length > maxFiles) {
      return "You attached " + files.length + " files; this tip line takes at most " + maxFiles +
        " in one tip. Send the others in another tip.";
    }
    if (size > maxBytes) {
      return "Your files add up to " + megabytes(size, Math.ceil) + "; this tip line takes at most " +
        megabytes(maxBytes, Math.floor) + " in one tip. Send fewer or smaller files, " +
        "or split them over several tips.";
    }
    return "";
  }

  function setup(form) {
    var button = $("send");
    var box = $("progress-box");
    var label = $("progress-label");
    var bar = $("progress");
    var status = $("status");

    function show(text, fraction, after) {
      box.hidden = false;
      var pct = Math.floor(100 * fraction);
      bar.value = pct;
      label.textContent = text + ": " + pct + "%" + (after || "");
    }

    function fail(text) {
      box.hidden = true;
      status.textContent = text;
      button.disabled = false;
    }

    // Seal each item in turn; returns the envelopes (Blobs), message first.
    async function sealAll(text, files) {
      var keys = keysOf(form);
      var items = [];
      if (text.trim()) items.push({ name: "your message", size: new Blob([text]).size, text: text });
      files.forEach(function (f) {
        items.push({ name: f.name || "a file", size: f.size, file: f });
      });
      var total = items.reduce(function (n, it) {
        return n + it.size;
      }, 0) || 1;
      var before = 0;
      var start = performance.now();
      var eta = "";
      var envelopes = [];
      for (var i = 0; i < items.length; i++) {
        var it = items[i];
        var what = "Encrypting " + it.name + " (" + (i + 1) + " of " + items.length + ")";
        var progress = function (done) {
          var sealed = before + done;
          var secs = (performance.now() - start) / 1000;
          if (sealed >= MB && secs > 0) {
            // Measured, not guessed: the rate so far, once at least 1 MB is sealed.
            var left = ((total - sealed) * secs) / sealed;
            var mins = Math.max(1, Math.round(left / 60));
            eta = left > 10 ? ", about " + mins + (mins === 1 ? " minute" : " minutes") + " left" : "";
          }
          show(what, sealed / total, eta);
        };
        progress(0);
        var f = it.file;
        envelopes.push(
          await (f
            ? TiplineEnvelope.sealBlob(f, TiplineEnvelope.fileMeta(f.name, f.type), keys, progress)
            : TiplineEnvelope.sealText(it.text, keys, progress))
        );
        before += it.size;
      }
      return envelopes;
    }

    function send(envelopes) {
      var data = new FormData();
      data.append("csrf_token", form.elements.csrf_token.value);
      data.append("website", form.elements.website.value);
      envelopes.forEach(function (env, i) {
        data.append("envelope", env, i + ".envelope");
      });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/submit?sealed=browser");
      xhr.setRequestHeader("Accept", "application/json");
      show("Sending securely", 0);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) show("Sending securely", e.loaded / e.total);
      };
      xhr.onload = function () {
        var reply = null;
        try {
          reply = JSON.parse(xhr.responseText);
        } catch (_e) {
          // not JSON: a proxy's or the server's own error page
        }
        if (reply && reply.ok && xhr.status === 200) {
          show("Sent", 1);
          location.assign(reply.next);
        } else {
          fail((reply && reply.error) || "The tip line could not take your tip (error " + xhr.status +
            "). Nothing was kept. Please try again.");
        }
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        fail(LOST);
      };
      xhr.send(data);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button.disabled) return;
      var text = form.elements.message.value;
      var files = Array.prototype.slice.call(form.elements.files.files);
      var bad = problem(form, text, files);
      status.textContent = bad;
      if (bad) return;
      button.disabled = true;
      sealAll(text, files).then(send, function () {
        fail("Your tip could not be encrypted in this browser, so nothing was sent. " +
          "Check that the files are still there, reload the page and try again.");
      });
    });
  }

  function start() {
    var form = $("tip-form");
    if (form && window.sodium && window.TiplineEnvelope) setup(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
