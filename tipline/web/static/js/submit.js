/*
 * The tip form with JavaScript on: seal the message and every file in the browser
 * (envelope.js) and send the envelopes in parts as they are sealed (upload.js, docs/uploads.md),
 * then commit them with one small POST to /submit?sealed=browser.
 *
 * This script runs before sodium.js (about 1 MB, seconds over Tor) has arrived, so
 * that a tip is never posted in plaintext while the page says the browser will
 * encrypt it. Until the crypto is ready, Send holds the tip, says so, and offers
 * "Send now, encrypted on our server" for a source who cannot wait (a Tor Browser
 * whose sodium.js never arrives). If sodium.js, envelope.js, upload.js or one of the three
 * upload-*.js it uses fails to load (blocked, cut off, a Subresource Integrity mismatch), the
 * page says so and Send posts the form as with JavaScript off: the server seals it on
 * receipt. Without this script the page's own note already says that. No plaintext is ever
 * sent from here.
 *
 * The same script drives the follow-up form of the conversation page: it posts to the
 * form's own action. On the first tip's form (it carries data-install-salt) it also makes
 * the source's codename with codename.js, sends only the public key and the login verifier
 * derived from it, and shows the codename in this page once the tip has arrived: the
 * codename never leaves the browser (docs/conversations.md).
 */
(function () {
  "use strict";

  var MB = 1024 * 1024;
  // Every sentence comes translated from the page (strings.js, tipline/web/browser_strings.py).
  var T = function (key, params) {
    return window.TiplineText ? window.TiplineText(key, params) : key;
  };

  function $(id) {
    return document.getElementById(id);
  }

  // A size in MB to one decimal, rounded up or down: a size just over the limit never reads as equal.
  function megabytes(n, round) {
    return String(+(round(n / MB * 10) / 10).toFixed(1));
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
    if (!text.trim() && !files.length) return T("empty");
    if (files.length > maxFiles) return T("too_many", { count: files.length, max: maxFiles });
    if (size > maxBytes) {
      return T("too_big", { size: megabytes(size, Math.ceil), max: megabytes(maxBytes, Math.floor) });
    }
    return "";
  }

  // Resolves once sodium.js and envelope.js have run and libsodium is ready; rejects if
  // either failed to load. Deferred scripts fire load or error in document order, after
  // this one has run, so the listeners are always in place in time.
  function cryptoReady(first) {
    function loaded(id, present) {
      return new Promise(function (resolve, reject) {
        var tag = $(id);
        if (present()) resolve();
        else if (!tag) reject(new Error("no " + id));
        else {
          tag.addEventListener("load", resolve);
          tag.addEventListener("error", reject);
        }
      });
    }
    var needed = [
      loaded("sodium-js", function () {
        return !!window.sodium;
      }),
      loaded("envelope-js", function () {
        return !!window.TiplineEnvelope;
      }),
      // upload.js and the three scripts it is made of (each loaded before it): any one lost, and
      // the page falls back to the server, as for envelope.js.
      loaded("upload-records-js", function () {
        return !!window.TiplineUploadRecords;
      }),
      loaded("upload-http-js", function () {
        return !!window.TiplineUploadHttp;
      }),
      loaded("upload-parts-js", function () {
        return !!window.TiplineUploadParts;
      }),
      loaded("upload-js", function () {
        return !!window.TiplineUpload;
      }),
    ];
    if (first) {
      needed.push(loaded("codename-words-js", function () {
        return !!window.TiplineCodenameWords;
      }), loaded("codename-js", function () {
        return !!window.TiplineCodename;
      }));
    }
    return Promise.all(needed).then(function () {
      if (first && !window.TiplineCodename) throw new Error("codename.js defined nothing");
      if (!window.sodium || !window.TiplineEnvelope || !window.TiplineUpload) {
        throw new Error("the crypto scripts defined nothing");
      }
      return window.sodium.ready;
    });
  }

  function setup(form) {
    var button = $("send");
    var sendNow = $("send-now");
    var note = $("crypto-note");
    var box = $("progress-box");
    var label = $("progress-label");
    var bar = $("progress");
    var status = $("status");
    var stop = $("stop");

    function show(text, fraction, after) {
      box.hidden = false;
      var pct = Math.floor(100 * fraction);
      bar.value = pct;
      label.textContent = T("progress", { what: text, percent: pct }) + (after ? " · " + after : "");
    }

    // A sentence alone on the bar's label (a countdown, a resume), the bar where it was.
    function showText(text, fraction) {
      box.hidden = false;
      if (fraction !== undefined) bar.value = Math.floor(100 * fraction);
      label.textContent = text;
    }

    function fail(text) {
      box.hidden = true;
      status.textContent = text;
      button.disabled = false;
    }

    var first = !!form.dataset.installSalt;

    // A first tip's codename, and the two values the server keeps of it (base64url).
    async function makeCodename() {
      show(T("making"), 0);
      var sodium = window.sodium;
      var words = await TiplineCodename.newCodename();
      var salt = sodium.from_base64(form.dataset.installSalt, sodium.base64_variants.URLSAFE_NO_PADDING);
      var d = await TiplineCodename.derive(words, salt);
      var b64 = function (b) {
        return sodium.to_base64(b, sodium.base64_variants.URLSAFE_NO_PADDING);
      };
      var made = { codename: words, publicKey: b64(d.publicKey), verifier: b64(d.verifier) };
      sodium.memzero(d.secretKey);
      show(T("making"), 1);
      return made;
    }

    // The tip has arrived: the form goes (with what was typed), and the codename is shown once.
    function reveal(words) {
      var done = $("done");
      $("codename").textContent = words;
      $("compose").remove();
      // Its links would leave this page, and the codename is shown this once only.
      var menu = $("languages");
      if (menu) menu.remove();
      done.hidden = false;
      var title = done.querySelector("h1");
      title.tabIndex = -1;
      title.focus();
    }

    // The text of each failure upload.js reports (docs/uploads.md: the page says its own sentence).
    function failure(e) {
      if (!e || e.name !== "UploadError") return T("not_sealed");
      if (e.reason === "cancelled") return T("stopped");
      if (e.reason === "unreadable") return T("not_sealed");
      if (e.reason === "expired") return T("expired");
      if (e.reason === "too_big") return T("too_large");
      if (e.text) return e.text; // the commit's own JSON error, in the page's language
      if (e.status === 403) return T("session_ended");
      return T("refused", { status: e.status });
    }

    // Seal and send every item in parts (upload.js), then commit; the tip has arrived only then.
    function send(text, files, made) {
      var items = [];
      if (text.trim()) {
        items.push({ name: T("your_message"), blob: new Blob([text]), meta: TiplineEnvelope.messageMeta() });
      }
      files.forEach(function (f) {
        items.push({ name: f.name || T("a_file"), blob: f, file: f, meta: TiplineEnvelope.fileMeta(f.name, f.type) });
      });
      var headers = {};
      if (made) {
        // Headers, not fields, as for the single-request form.
        headers["Tipline-Source-Public-Key"] = made.publicKey;
        headers["Tipline-Verifier"] = made.verifier;
      }
      var what = "";
      var fraction = 0;
      var start = null; // [time, bytes] when bytes first moved, for the estimate
      var eta = "";
      function onEvent(e) {
        if (e.phase === "sending" || e.phase === "progress") {
          what = T("uploading", { name: e.name, n: e.index + 1, total: e.count });
          fraction = e.done / e.total;
          var secs = start ? (performance.now() - start[0]) / 1000 : 0;
          var moved = start ? e.done - start[1] : 0;
          if (!start) start = [performance.now(), e.done];
          else if (moved >= MB && secs > 0) {
            // Measured, not guessed: the rate so far, once at least 1 MB has gone.
            var left = ((e.total - e.done) * secs) / moved;
            eta = left > 10 ? T("eta", { minutes: Math.max(1, Math.round(left / 60)) }) : "";
          }
          show(what, fraction, eta);
        } else if (e.phase === "retrying") {
          start = null; // the rate starts again once bytes move again
          eta = "";
          showText(T(e.busy ? "busy" : "retrying", { seconds: e.seconds }));
        } else if (e.phase === "resuming") {
          fraction = e.done / e.total;
          start = null;
          showText(T("resuming", { size: megabytes(e.arrived, Math.floor) }), fraction);
        } else if (e.phase === "committing") {
          show(T("committing"), 1);
        }
      }
      var control = {};
      stop.hidden = false;
      stop.onclick = function () {
        stop.hidden = true;
        control.cancel();
      };
      show(T("uploading", { name: items[0].name, n: 1, total: items.length }), 0);
      return TiplineUpload.send({
        items: items,
        keys: keysOf(form),
        csrf: form.elements.csrf_token.value,
        action: form.getAttribute("action"),
        headers: headers,
        onEvent: onEvent,
        control: control,
      }).then(
        function (reply) {
          stop.hidden = true;
          show(T("sent"), 1);
          if (made) reveal(made.codename);
          else location.assign(reply.next);
        },
        function (e) {
          stop.hidden = true;
          fail(failure(e));
        }
      );
    }

    function sealAndSend() {
      var text = form.elements.message.value;
      var files = Array.prototype.slice.call(form.elements.files.files);
      var bad = problem(form, text, files);
      status.textContent = bad;
      if (bad) return;
      button.disabled = true;
      (first ? makeCodename() : Promise.resolve(null))
        .then(function (made) {
          return send(text, files, made);
        })
        .catch(function () {
          stop.hidden = true;
          fail(T("not_sealed"));
        });
    }

    // "loading" until the crypto is ready, then "ready" or "failed"; "server" once the
    // source chose to send now. Shown in the note, and kept in the form's data-crypto.
    var state;
    var held = false; // Send was pressed while loading: seal and send once ready
    function enter(next) {
      state = form.dataset.crypto = next;
      note.textContent = T("note." + next);
    }
    enter("loading");

    cryptoReady(first).then(
      function () {
        performance.mark("tipline-crypto-ready");
        if (state === "server") return;
        enter("ready");
        sendNow.hidden = true;
        if (held) {
          held = false;
          sealAndSend();
        }
      },
      function () {
        if (state === "server") return;
        enter("failed");
        sendNow.hidden = true;
        if (held) {
          // Never post what the source was told the browser would encrypt: ask again.
          held = false;
          status.textContent = T("not_sent");
        }
      }
    );

    form.addEventListener("submit", function (event) {
      var files = Array.prototype.slice.call(form.elements.files.files);
      var bad = problem(form, form.elements.message.value, files);
      if (bad) {
        event.preventDefault();
        status.textContent = bad;
        return;
      }
      if (event.submitter === sendNow || state === "failed") {
        // The form posts as without JavaScript, and the note says so before anything leaves.
        held = false;
        if (event.submitter === sendNow) enter("server");
        status.textContent = "";
        return;
      }
      event.preventDefault();
      if (button.disabled) return;
      if (state === "loading") {
        held = true;
        status.textContent = T("queued");
        sendNow.hidden = false;
        return;
      }
      sealAndSend();
    });
  }

  function start() {
    var form = $("tip-form");
    if (form) setup(form);
  }

  // A deferred script runs once the document is parsed; DOMContentLoaded would wait
  // for sodium.js as well, which is the wait this script exists to cover.
  if (document.readyState === "loading") document.addEventListener("readystatechange", start, { once: true });
  else start();
})();
