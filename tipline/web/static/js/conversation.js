/*
 * The conversation page with JavaScript on (docs/conversations.md "The login exchange").
 *
 * The codename is normalised and derived here (codename.js); only the login verifier is
 * posted, after the codename field has been emptied and disabled. The server answers with
 * the reply envelopes, which are opened here with the secret key (envelope-open.js) and
 * shown as text (textContent, never HTML). The secret key lives in a local variable of one
 * call and is wiped once the replies are open. Until the scripts are ready a login is held,
 * and if they fail to load the form posts as without JavaScript (the server derives).
 * Deleting a reply posts its id and removes it from the page.
 */
(function () {
  "use strict";

  // Whole sentences, to be translated with the page.
  var T = function (key, params) {
    return window.TiplineText ? window.TiplineText(key, params) : key;
  };

  function $(id) {
    return document.getElementById(id);
  }

  function ready() {
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
    return Promise.all([
      loaded("sodium-js", function () { return !!window.sodium; }),
      loaded("envelope-js", function () { return !!window.TiplineEnvelope; }),
      loaded("codename-words-js", function () { return !!window.TiplineCodenameWords; }),
      loaded("codename-js", function () { return !!window.TiplineCodename; }),
      loaded("envelope-open-js", function () { return !!window.TiplineEnvelopeOpen; }),
    ]).then(function () {
      return window.sodium.ready;
    });
  }

  function post(url, fields) {
    var data = new FormData();
    Object.keys(fields).forEach(function (k) {
      data.append(k, fields[k]);
    });
    return fetch(url, { method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () {
          return { ok: false, error: T("no_answer", { status: r.status }) };
        });
      }, function () {
        return { ok: false, error: T("conversation_lost") };
      });
  }

  function showReplies(list) {
    var box = $("replies");
    var template = $("reply-template");
    box.textContent = "";
    list.forEach(function (r) {
      var li = template.content.firstElementChild.cloneNode(true);
      li.dataset.replyId = r.id;
      li.querySelector(".reply-hour").textContent = r.when; // written by the server in the page's language
      li.querySelector(".reply-text").textContent = r.text;
      li.querySelector("input[name=reply_id]").value = r.id;
      box.appendChild(li);
    });
    $("replies-none").hidden = list.length > 0;
    $("replies-locked").hidden = true;
  }

  async function openAll(replies, secretKey) {
    var sodium = window.sodium;
    var out = [];
    for (var i = 0; i < replies.length; i++) {
      var r = replies[i];
      var text;
      try {
        var opened = await TiplineEnvelopeOpen.openBytes(sodium.from_base64(r.envelope, sodium.base64_variants.ORIGINAL), secretKey);
        text = new TextDecoder().decode(opened.content);
      } catch (_e) {
        text = T("unreadable");
      }
      out.push({ id: r.id, hour: r.hour, when: r.when, text: text });
    }
    return out;
  }

  function setupLogin(form) {
    var entry = $("codename-entry");
    var status = $("login-status");
    var button = $("open");
    var state = "loading";
    var held = false;
    form.dataset.crypto = state;

    async function login() {
      var text = entry.value;
      try {
        TiplineCodename.normalise(text);
      } catch (e) {
        status.textContent = e.message; // says which rule the entry broke, and what to do
        entry.focus();
        return;
      }
      button.disabled = true;
      status.textContent = T("opening");
      var sodium = window.sodium;
      var d = null;
      try {
        var salt = sodium.from_base64(form.dataset.installSalt, sodium.base64_variants.URLSAFE_NO_PADDING);
        d = await TiplineCodename.derive(text, salt);
        text = null;
        // The codename never leaves this page: the field is emptied and disabled before any post.
        entry.value = "";
        entry.disabled = true;
        var answer = await post(form.getAttribute("action"), {
          csrf_token: form.elements.csrf_token.value,
          verifier: sodium.to_base64(d.verifier, sodium.base64_variants.URLSAFE_NO_PADDING),
        });
        if (!answer.ok) {
          status.textContent = answer.error;
          entry.disabled = false;
          entry.focus();
          return;
        }
        showReplies(await openAll(answer.replies || [], d.secretKey));
        status.textContent = "";
        form.hidden = true;
        $("conversation").hidden = false;
        $("replies-title").tabIndex = -1;
        $("replies-title").focus();
      } finally {
        if (d) {
          sodium.memzero(d.secretKey);
          sodium.memzero(d.verifier);
        }
        button.disabled = false;
      }
    }

    ready().then(function () {
      state = form.dataset.crypto = "ready";
      if (held) {
        held = false;
        login();
      }
    }, function () {
      state = form.dataset.crypto = "failed"; // from now on the form posts as without JavaScript
      if (held) {
        held = false;
        status.textContent = "";
        form.submit();
      }
    });

    form.addEventListener("submit", function (event) {
      if (state === "failed") return;
      event.preventDefault();
      if (button.disabled) return;
      if (state === "loading") {
        held = true;
        status.textContent = T("still_loading");
        return;
      }
      login();
    });
  }

  // Delete with the page's own request, so that the replies already open stay on the page.
  function setupDelete(box) {
    box.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.classList || !form.classList.contains("delete-form")) return;
      event.preventDefault();
      var li = form.closest(".reply");
      form.querySelector("button").disabled = true;
      post(form.getAttribute("action"), {
        csrf_token: form.elements.csrf_token.value,
        reply_id: form.elements.reply_id.value,
      }).then(function (answer) {
        var note = $("reply-status");
        if (answer.ok) {
          li.remove();
          if (!box.querySelector(".reply")) $("replies-none").hidden = false;
          note.textContent = T("deleted");
        } else {
          form.querySelector("button").disabled = false;
          note.textContent = answer.error;
        }
      });
    });
  }

  function start() {
    var form = $("login-form");
    if (form) setupLogin(form);
    var box = $("replies");
    if (box) setupDelete(box);
  }

  if (document.readyState === "loading") document.addEventListener("readystatechange", start, { once: true });
  else start();
})();
