/*
 * The reply box with JavaScript on: seal the reply in the journalist's browser (envelope.js)
 * to the source's key and every active journalist key, and post only the envelope to
 * /conversations/<id>/envelope?sealed=browser.
 *
 * Runs before sodium.js has arrived. Until the crypto is ready, Send reply holds the reply
 * and says so; if sodium.js or envelope.js fails to load, the note says so and the form
 * posts as with JavaScript off (the server seals the text in memory). Every text shown
 * comes from the form's data- attributes, rendered by the page.
 */
(function () {
  "use strict";

  function $(id) {
    return document.getElementById(id);
  }

  function keysOf(form) {
    return form.dataset.recipients.split(",").filter(Boolean).map(function (k) {
      return Uint8Array.from(atob(k), function (c) {
        return c.charCodeAt(0);
      });
    });
  }

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

  // Resolves once sodium.js and envelope.js have run and libsodium is ready.
  function cryptoReady() {
    return Promise.all([
      loaded("sodium-js", function () {
        return !!window.sodium;
      }),
      loaded("envelope-js", function () {
        return !!window.TiplineEnvelope;
      }),
    ]).then(function () {
      if (!window.sodium || !window.TiplineEnvelope) throw new Error("the crypto scripts defined nothing");
      return window.sodium.ready;
    });
  }

  function setup(form) {
    var text = form.dataset;
    var button = $("send-reply");
    var note = $("reply-note");
    var status = $("reply-status");
    var state;

    function enter(next) {
      state = form.dataset.crypto = next;
      note.textContent = text["note" + next.charAt(0).toUpperCase() + next.slice(1)];
    }

    function fail(message) {
      status.textContent = message;
      button.disabled = false;
    }

    function send(envelope) {
      var data = new FormData();
      data.append("csrf_token", form.elements.csrf_token.value);
      data.append("envelope", envelope, "reply.envelope");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", text.envelopeAction);
      xhr.setRequestHeader("Accept", "application/json");
      status.textContent = text.msgSending;
      xhr.onload = function () {
        var answer = null;
        try {
          answer = JSON.parse(xhr.responseText);
        } catch (_e) {
          // not JSON: a proxy's or the server's own error page
        }
        if (answer && answer.ok && xhr.status === 200) location.assign(answer.next);
        else fail((answer && answer.error) || text.msgLost);
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        fail(text.msgLost);
      };
      xhr.send(data);
    }

    enter("loading");
    cryptoReady().then(
      function () {
        enter("ready");
      },
      function () {
        enter("failed");
      }
    );

    form.addEventListener("submit", function (event) {
      if (state === "failed") return; // posted as without JavaScript, as the note says
      event.preventDefault();
      if (button.disabled) return;
      if (state === "loading") {
        status.textContent = text.msgWait;
        return;
      }
      var reply = form.elements.message.value;
      if (!reply.trim()) {
        status.textContent = text.msgEmpty;
        return;
      }
      if (new TextEncoder().encode(reply).length > +text.maxBytes) {
        status.textContent = text.msgTooLong;
        return;
      }
      button.disabled = true;
      status.textContent = text.msgEncrypting;
      TiplineEnvelope.sealText(reply, keysOf(form)).then(send, function () {
        fail(text.msgSealFailed);
      });
    });
  }

  function start() {
    var form = $("reply-form");
    if (form) setup(form);
  }

  if (document.readyState === "loading") document.addEventListener("readystatechange", start, { once: true });
  else start();
})();
