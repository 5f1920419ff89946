/*
 * The page's client of the resumable upload protocol (docs/uploads.md): each item's envelope
 * is sent in parts while the rest is still being sealed, a lost connection is retried from
 * what the server holds, and one small request commits the tip once every envelope is whole.
 * This file runs the tip: the items, their uploads, the commit, the stop. Loaded after
 * envelope.js, upload-records.js (resume records), upload-http.js (requests, retries) and
 * upload-parts.js (one envelope in parts). It defines one global, TiplineUpload:
 *
 *   TiplineUpload.send({items, keys, csrf, action, headers, onEvent, control}) -> Promise<reply>
 *     items    [{blob, meta, name}], the message first; files carry a fingerprint (upload-records.js)
 *     keys     the recipients' public keys (Uint8Array(32) each)
 *     csrf     the form's CSRF token; action: the form's action (the commit goes there)
 *     headers  extra headers of the commit (a first tip's codename key and verifier)
 *     onEvent  ({phase, ...}): "sending", "retrying", "resuming", "committing", for the page
 *     control  {cancelled}: set cancelled = true and call control.cancel() to stop
 *   resolves with the commit's JSON reply ({ok: true, ...}); rejects with an UploadError
 *   (.reason, .status, .name, .text) that the page turns into a sentence.
 * If one of the three failed to load, TiplineUpload stays undefined: submit.js falls back.
 */
(function (global) {
  "use strict";

  var H = global.TiplineUploadHttp;
  var P = global.TiplineUploadParts;
  var R = global.TiplineUploadRecords;
  if (!H || !P || !R) return;
  var RESTARTS = 3; // times an item may start again with a new upload (410, 404)

  // -- one item ----------------------------------------------------------------------------------

  function idOf(location) {
    var m = /\/uploads\/([A-Za-z0-9_-]{1,128})$/.exec(location || "");
    return m ? m[1] : null;
  }

  async function create(control, length, name) {
    var r = await H.persist(control, function () {
      return H.http(control, "POST", "/uploads", H.tus(control, { "Upload-Length": String(length) }), null);
    });
    if (r.status === 413) throw H.UploadError("too_big", 413, name);
    var id = r.status === 201 ? idOf(r.header("Location")) : null;
    if (!id) throw H.UploadError("refused", r.status, name);
    return id;
  }

  /*
   * Sends one item whole. item.state, when set ({id, length, payloadKey, header}: from a record
   * or from this page's earlier try), names an upload begun before: the server is asked how
   * much it holds, and the item is sealed again with the same key up to there.
   */
  async function sendItem(control, item, progress) {
    var restarts = 0;
    var state = item.state || null;
    var offset = 0;
    if (state) {
      var h = await H.persist(control, function () {
        return H.http(control, "HEAD", "/uploads/" + state.id, H.tus(control));
      });
      var held = h.status === 200 ? H.offsetOf(h) : null;
      if (held === null || +h.header("Upload-Length") !== state.length) {
        R.drop(item.record);
        state = null;
      } else {
        offset = held;
      }
    }
    for (;;) {
      var resume = state ? { payloadKey: state.payloadKey, header: state.header } : null;
      var sealer;
      try {
        sealer = await TiplineEnvelope.sealer(item.blob, item.meta, control.keys, resume);
      } catch (e) {
        throw H.UploadError("unreadable", 0, item.name);
      }
      if (state && sealer.length !== state.length) {
        // Not the file the record was made for after all: start afresh.
        R.drop(item.record);
        sealer.close();
        state = null;
        offset = 0;
        continue;
      }
      if (!state) {
        state = { length: sealer.length, payloadKey: sealer.payloadKey, header: sealer.header };
        state.id = await create(control, sealer.length, item.name);
        offset = 0;
        R.save(item.record, state);
      }
      item.state = state;
      item.length = state.length;
      if (offset > 0) control.event({ phase: "resuming", arrived: offset, done: item.before + offset, total: control.total });
      var result;
      try {
        result = await P.pump(control, sealer, state.id, offset, progress);
      } catch (e) {
        if (e && e.reason === "unreadable") throw e;
        if (e && e.name === "UploadError") {
          e.item = e.item || item.name;
          throw e;
        }
        throw H.UploadError("unreadable", 0, item.name); // the file could not be read to its end
      } finally {
        sealer.close();
      }
      if (result.done) return state.id;
      if (result.rewind !== undefined) {
        offset = result.rewind;
        continue;
      }
      // Gone (expired or unknown): the same envelope again, in a new upload.
      if (++restarts > RESTARTS) throw H.UploadError("expired", 410, item.name);
      R.drop(item.record);
      state = null;
      offset = 0;
    }
  }

  // -- the whole tip -----------------------------------------------------------------------------

  function parse(r) {
    try {
      return JSON.parse(r.text);
    } catch (_e) {
      return null; // not JSON: a proxy's or the server's own error page
    }
  }

  async function commit(control, opts, items) {
    var body = new URLSearchParams();
    body.append("csrf_token", opts.csrf);
    items.forEach(function (it) {
      body.append("upload", it.state.id);
    });
    var headers = { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" };
    Object.keys(opts.headers || {}).forEach(function (k) {
      headers[k] = opts.headers[k];
    });
    var r = await H.persist(control, function () {
      control.event({ phase: "committing" });
      return H.http(control, "POST", opts.action + "?sealed=browser", headers, body.toString());
    });
    return { status: r.status, reply: parse(r) };
  }

  // The items a 409 ({"incomplete": [...]}) or a 410 ({"gone": [...]}) names, or all of them.
  function named(items, reply, key) {
    var ids = reply && Array.isArray(reply[key]) ? reply[key] : null;
    return items.filter(function (it) {
      return !ids || ids.indexOf(it.state.id) >= 0;
    });
  }

  async function send(opts) {
    var control = opts.control || {};
    control.keys = opts.keys;
    control.csrf = opts.csrf;
    control.event = opts.onEvent || function () {};
    control.cancel = function () {
      control.cancelled = true;
      clearTimeout(control.timer);
      if (control.stopWaiting) control.stopWaiting();
      if (control.xhr) control.xhr.abort();
    };
    var items = opts.items;
    var sodium = global.sodium;
    await sodium.ready;
    // Records are per file; the same file twice in one tip gets a record for each.
    var seen = {};
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      it.length = TiplineEnvelope.envelopeLength(it.blob.size, it.meta, opts.keys.length);
      if (it.file) {
        var fp = await R.fingerprint(it.file, opts.keys);
        seen[fp] = (seen[fp] || 0) + 1;
        it.record = fp + "." + seen[fp];
        var rec = R.load(it.record);
        if (rec && rec.length === it.length) it.state = rec;
      }
    }
    var total = (control.total = items.reduce(function (n, x) {
      return n + x.length;
    }, 0));

    async function sendAll(which) {
      for (var k = 0; k < items.length; k++) {
        var item = items[k];
        if (which.indexOf(item) < 0) continue;
        var before = 0;
        for (var j = 0; j < k; j++) before += items[j].length;
        item.before = before;
        control.event({ phase: "sending", index: k, count: items.length, name: item.name, done: before, total: total });
        await sendItem(control, item, function (acked, inFlight) {
          control.event({ phase: "progress", index: k, count: items.length, name: item.name, done: before + acked + inFlight, total: total });
        });
      }
    }

    try {
      await sendAll(items);
      for (var round = 0; ; round++) {
        var c = await commit(control, opts, items);
        if (c.status === 200 && c.reply && c.reply.ok) {
          items.forEach(function (x) {
            R.drop(x.record);
          });
          return c.reply;
        }
        if ((c.status === 409 || c.status === 410) && round < RESTARTS) {
          // 409: some upload is not whole after all (resume it); 410: one expired (send it again).
          var again = named(items, c.reply, c.status === 409 ? "incomplete" : "gone");
          if (c.status === 410) {
            again.forEach(function (x) {
              R.drop(x.record);
              x.state = null;
            });
          }
          await sendAll(again);
          continue;
        }
        if (c.status === 400) {
          items.forEach(function (x) {
            R.drop(x.record); // the server deleted those uploads
          });
        }
        var e = H.UploadError(c.status === 410 ? "expired" : "refused", c.status);
        e.text = (c.reply && c.reply.error) || "";
        throw e;
      }
    } catch (err) {
      if (err && err.reason === "cancelled") forget(items, opts.csrf);
      else if (err && (err.reason === "too_big" || err.reason === "refused") && err.status !== 403) {
        // Refused for good (413, 415, 400): no reason to keep what was sent of it.
        items.forEach(function (x) {
          if (x.name === err.item) R.drop(x.record);
        });
      }
      throw err;
    }
  }

  // The source stopped: the uploads go, and so do their records. Best effort: a DELETE answered
  // 423 (the part just cut off is still being cut back) or lost is tried a few times; what stays
  // expires on the server within its time limit.
  function forget(items, csrf) {
    items.forEach(function (it) {
      R.drop(it.record);
      if (!it.state || !it.state.id) return;
      var url = "/uploads/" + it.state.id;
      (function attempt(tries) {
        var xhr = new XMLHttpRequest();
        xhr.open("DELETE", url);
        xhr.setRequestHeader("Tus-Resumable", "1.0.0");
        xhr.setRequestHeader("Tipline-CSRF-Token", csrf);
        function again() {
          if (tries < 4) setTimeout(attempt, 1000 * H.DELAYS[tries], tries + 1);
        }
        xhr.onload = function () {
          if (xhr.status === 423 || xhr.status >= 500) again();
        };
        xhr.onerror = again;
        xhr.send();
      })(0);
    });
  }

  global.TiplineUpload = Object.freeze({ send: send, PART: P.PART, HELD: P.HELD, DELAYS: H.DELAYS });
})(window);
