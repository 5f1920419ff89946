/*
 * The tip form with JavaScript on: seal the message and every file in the browser
 * (envelope.js), then send only the envelopes to /submit?sealed=browser.
 *
 * This script runs before sodium.js (about 1 MB, seconds over Tor) has arrived, so
 * that a tip is never posted in plaintext while the page says the browser will
 * encrypt it. Until the crypto is ready, Send holds the tip, says so, and offers
 * "Send now, encrypted on our server" for a source who cannot wait (a Tor Browser
 * whose sodium.js never arrives). If sodium.js or envelope.js fails to load (blocked,
 * cut off, a Subresource Integrity mismatch), the page says so and Send posts the form
 * as with JavaScript off: the server seals it on receipt. Without this script the
 * page's own note already says that. No plaintext is ever sent from here.
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
      if (!window.sodium || !window.TiplineEnvelope) throw new Error("the crypto scripts defined nothing");
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

    function show(text, fraction, after) {
      box.hidden = false;
      var pct = Math.floor(100 * fraction);
      bar.value = pct;
      label.textContent = T("progress", { what: text, percent: pct }) + (after ? " · " + after : "");
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
      if (text.trim()) items.push({ name: T("your_message"), size: new Blob([text]).size, text: text });
      files.forEach(function (f) {
        items.push({ name: f.name || T("a_file"), size: f.size, file: f });
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
        var what = T("encrypting", { name: it.name, n: i + 1, total: items.length });
        var progress = function (done) {
          var sealed = before + done;
          var secs = (performance.now() - start) / 1000;
          if (sealed >= MB && secs > 0) {
            // Measured, not guessed: the rate so far, once at least 1 MB is sealed.
            var left = ((total - sealed) * secs) / sealed;
            var mins = Math.max(1, Math.round(left / 60));
            eta = left > 10 ? T("eta", { minutes: mins }) : "";
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

    function send(envelopes, made) {
      var data = new FormData();
      data.append("csrf_token", form.elements.csrf_token.value);
      envelopes.forEach(function (env, i) {
        data.append("envelope", env, i + ".envelope");
      });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action") + "?sealed=browser");
      xhr.setRequestHeader("Accept", "application/json");
      if (made) {
        // Headers, not fields: the server needs them before it reads the envelopes.
        xhr.setRequestHeader("Tipline-Source-Public-Key", made.publicKey);
        xhr.setRequestHeader("Tipline-Verifier", made.verifier);
      }
      show(T("sending"), 0);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) show(T("sending"), e.loaded / e.total);
      };
      xhr.onload = function () {
        var reply = null;
        try {
          reply = JSON.parse(xhr.responseText);
        } catch (_e) {
          // not JSON: a proxy's or the server's own error page
        }
        if (reply && reply.ok && xhr.status === 200) {
          show(T("sent"), 1);
          if (made) reveal(made.codename);
          else location.assign(reply.next);
        } else {
          fail((reply && reply.error) || T("refused", { status: xhr.status }));
        }
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        fail(T("lost"));
      };
      xhr.send(data);
    }

    function sealAndSend() {
      var text = form.elements.message.value;
      var files = Array.prototype.slice.call(form.elements.files.files);
      var bad = problem(form, text, files);
      status.textContent = bad;
      if (bad) return;
      button.disabled = true;
      var made = null;
      (first ? makeCodename() : Promise.resolve(null))
        .then(function (m) {
          made = m;
          return sealAll(text, files);
        })
        .then(function (envelopes) {
          send(envelopes, made);
        }, function () {
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
