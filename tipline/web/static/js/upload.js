/*
 * The page's client of the resumable upload protocol (docs/uploads.md): each item's envelope
 * is sent in parts while the rest is still being sealed, a lost connection is retried from
 * what the server holds, and one small request commits the tip once every envelope is whole.
 *
 * A plain script, loaded after envelope.js. It defines one global, TiplineUpload:
 *
 *   TiplineUpload.send({items, keys, csrf, action, headers, onEvent, control}) -> Promise<reply>
 *     items    [{blob, meta, name}], the message first; files carry a fingerprint (below)
 *     keys     the recipients' public keys (Uint8Array(32) each)
 *     csrf     the form's CSRF token; action: the form's action (the commit goes there)
 *     headers  extra headers of the commit (a first tip's codename key and verifier)
 *     onEvent  ({phase, ...}): "sending", "retrying", "resuming", "committing", for the page
 *     control  {cancelled}: set cancelled = true and call control.cancel() to stop
 *   resolves with the commit's JSON reply ({ok: true, ...}); rejects with an UploadError
 *   (.reason, .status, .name, .text) that the page turns into a sentence.
 *
 * At most three parts of 4 MiB are held at once (one being sent, two sealed ahead): the
 * sealer waits while they are full, so the tab's memory does not grow with the file.
 *
 * After a reload: sessionStorage (this tab only) keeps one record per file being sent,
 * under a BLAKE2b fingerprint of the file (its size, modification time, name, first MiB,
 * and the recipients' keys): {v, id, length, key, header}, the upload's id, the envelope's
 * length, its payload key and its header. The same file picked again is sealed again with
 * them, which gives the same bytes, and only what the server lacks is sent.
 */
(function (global) {
  "use strict";

  var MIB = 1024 * 1024;
  var PART = 4 * MIB;
  var HELD = 3; // parts in memory at once: one being sent, two sealed ahead
  var DELAYS = [1, 2, 5, 10, 20, 30]; // seconds between tries; the last one repeats, forever
  var STALL_MS = 60000; // a request that moves no byte for this long is taken as lost
  var RESTARTS = 3; // times an item may start again with a new upload (410, 404)
  var RECORD = "tipline.upload.";
  var LABEL = "tipline/v1/upload-record";
  var encoder = new TextEncoder();

  function UploadError(reason, status, name) {
    var e = new Error("upload: " + reason + (status ? " " + status : ""));
    e.reason = reason; // "too_big", "refused", "expired", "unreadable", "cancelled"
    e.status = status || 0;
    e.name = "UploadError";
    e.item = name || "";
    return e;
  }

  function Lost() {} // a network error, or a stalled or aborted request

  // -- HTTP ------------------------------------------------------------------------------------

  // One request with XMLHttpRequest (fetch cannot report upload progress). Resolves with
  // every answer the server gave, whatever its status; rejects with Lost.
  function http(control, method, url, headers, body, onSent) {
    return new Promise(function (resolve, reject) {
      if (control.cancelled) return reject(UploadError("cancelled"));
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      Object.keys(headers).forEach(function (k) {
        xhr.setRequestHeader(k, headers[k]);
      });
      var moved = Date.now();
      var watch = setInterval(function () {
        if (Date.now() - moved > STALL_MS) xhr.abort(); // a Tor circuit that died without a word
      }, 5000);
      xhr.upload.onprogress = function (e) {
        moved = Date.now();
        if (onSent) onSent(e.loaded);
      };
      xhr.onprogress = function () {
        moved = Date.now();
      };
      function end() {
        clearInterval(watch);
        if (control.xhr === xhr) control.xhr = null;
      }
      xhr.onload = function () {
        end();
        resolve({
          status: xhr.status,
          header: function (name) {
            return xhr.getResponseHeader(name);
          },
          text: xhr.responseText,
        });
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        end();
        reject(control.cancelled ? UploadError("cancelled") : new Lost());
      };
      control.xhr = xhr;
      xhr.send(body === undefined ? null : body instanceof Uint8Array ? new Blob([body]) : body);
    });
  }

  function tus(control, extra) {
    var h = { "Tus-Resumable": "1.0.0" };
    if (extra) {
      h["Tipline-CSRF-Token"] = control.csrf;
      Object.keys(extra).forEach(function (k) {
        h[k] = extra[k];
      });
    }
    return h;
  }

  function offsetOf(r) {
    var v = r.header("Upload-Offset");
    return v !== null && /^[0-9]+$/.test(v) ? +v : null;
  }

  // Waits the next delay of the list, counting down each second on the progress bar.
  function pause(control, tries, busy) {
    var seconds = DELAYS[Math.min(tries, DELAYS.length - 1)];
    return new Promise(function (resolve, reject) {
      control.stopWaiting = function () {
        reject(UploadError("cancelled"));
      };
      function tick() {
        if (control.cancelled) return reject(UploadError("cancelled"));
        if (seconds === 0) return resolve();
        control.event({ phase: "retrying", seconds: seconds, busy: busy });
        seconds -= 1;
        control.timer = setTimeout(tick, 1000);
      }
      tick();
    });
  }

  // Worth trying again: no answer, a 5xx, 423 (another request writes to it), 408 (a part that
  // came too slowly: nothing of it was kept).
  function retryable(r) {
    return r === null || r.status === 423 || r.status === 408 || r.status >= 500;
  }

  // A request that waits and tries again after a network error, a 5xx or a 423, forever.
  async function persist(control, make) {
    for (var tries = 0; ; tries++) {
      var r = null;
      try {
        r = await make();
      } catch (e) {
        if (!(e instanceof Lost)) throw e;
      }
      if (!retryable(r)) return r;
      await pause(control, tries, r !== null);
    }
  }

  // -- parts -------------------------------------------------------------------------------------

  // Cuts the sealer's output into parts of at most `size` bytes at known offsets. Output below
  // `floor` (what the server already holds) is dropped as it comes, never copied into a part.
  function Parts(sealer, pool) {
    this.sealer = sealer;
    this.pool = pool; // buffers of PART bytes, reused: the tab makes no garbage of the file
    this.piece = null;
    this.at = 0; // position in piece
    this.pos = 0; // offset in the envelope of piece[at]
    this.floor = 0;
  }
  Parts.prototype.buffer = function () {
    return this.pool.length ? this.pool.pop() : new Uint8Array(PART);
  };
  // A part acknowledged (or dropped): its buffer serves again.
  Parts.prototype.free = function (part) {
    if (part.bytes.buffer.byteLength === PART && this.pool.length < HELD) {
      this.pool.push(new Uint8Array(part.bytes.buffer));
    }
  };
  Parts.prototype.take = async function (size) {
    var part = null;
    var offset = 0;
    var filled = 0;
    for (;;) {
      if (!this.piece || this.at >= this.piece.length) {
        this.piece = await this.sealer.next();
        this.at = 0;
        if (this.piece === null) break;
      }
      var left = this.piece.length - this.at;
      if (!part && this.pos < this.floor) {
        var skip = Math.min(this.floor - this.pos, left);
        this.at += skip;
        this.pos += skip;
        continue;
      }
      if (!part) {
        offset = this.pos;
        part = this.buffer().subarray(0, Math.min(size, this.sealer.length - offset));
      }
      var n = Math.min(part.length - filled, left);
      part.set(this.piece.subarray(this.at, this.at + n), filled);
      this.at += n;
      this.pos += n;
      filled += n;
      if (filled === part.length) break;
    }
    if (part && filled !== part.length) throw new Error("upload: the envelope ended early");
    return part ? { offset: offset, bytes: part } : null;
  };

  /*
   * Sends the sealer's output from `offset` to its end into upload `id`. Sealing runs ahead of
   * sending by up to HELD parts. Returns {done: true}, {gone: true} for an upload that is no
   * longer there (410, 404), or {rewind: K} when the server holds less than the parts kept
   * (the item is then sealed again from the start, with the same key, up to K).
   */
  async function pump(control, sealer, id, offset, progress) {
    var url = "/uploads/" + id;
    var length = sealer.length;
    var parts = new Parts(sealer, control.pool || (control.pool = []));
    var held = [];
    var sealed = false; // the sealer has given everything
    var failure = null;
    var stopped = false;
    var wakeSealer = null;
    var wakeSender = null;
    function wake(which) {
      var f = which === "sealer" ? wakeSealer : wakeSender;
      if (which === "sealer") wakeSealer = null;
      else wakeSender = null;
      if (f) f();
    }
    parts.floor = offset;

    (async function seal() {
      try {
        while (!stopped) {
          if (held.length >= HELD) {
            await new Promise(function (r) {
              wakeSealer = r;
            });
            continue;
          }
          var part = await parts.take(PART);
          if (part === null) break;
          held.push(part);
          wake("sender");
        }
      } catch (e) {
        failure = e;
      }
      sealed = true;
      wake("sender");
    })();

    var acked = offset;
    var tries = 0;
    try {
      while (acked < length) {
        parts.floor = Math.max(parts.floor, acked);
        while (held.length && held[0].offset + held[0].bytes.length <= acked) {
          parts.free(held.shift());
          wake("sealer");
        }
        if (held.length && held[0].offset > acked) return { rewind: acked };
        if (!held.length) {
          if (failure) throw failure;
          if (sealed) return { rewind: acked }; // nothing left to send below the end: start over
          await new Promise(function (r) {
            wakeSender = r;
          });
          continue;
        }
        var part = held[0];
        if (part.offset < acked) {
          held[0] = part = { offset: acked, bytes: part.bytes.subarray(acked - part.offset) };
        }
        progress(acked, 0);
        var r = null;
        try {
          r = await http(
            control,
            "PATCH",
            url,
            tus(control, { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(part.offset) }),
            // A Blob, not the Uint8Array itself: Chromium uploads a typed-array body about ten
            // times slower (0.8-2 s for 4 MiB over loopback, against 0.1 s; bench/upload.py).
            new Blob([part.bytes]),
            function (sent) {
              progress(acked, sent);
            }
          );
        } catch (e) {
          if (!(e instanceof Lost)) throw e;
        }
        if (r && (r.status === 204 || r.status === 409) && offsetOf(r) !== null) {
          // 409: the server holds another amount (a part whose answer was lost): go on from there.
          acked = offsetOf(r);
          if (r.status === 204) tries = 0;
          continue;
        }
        if (r && (r.status === 404 || r.status === 410)) return { gone: true };
        if (r && !retryable(r)) {
          throw UploadError(r.status === 413 ? "too_big" : "refused", r.status);
        }
        await pause(control, tries++, r !== null);
        // Ask how much arrived before sending again.
        var h = await persist(control, function () {
          return http(control, "HEAD", url, tus(control));
        });
        if (h.status === 404 || h.status === 410) return { gone: true };
        if (h.status !== 200 || offsetOf(h) === null) throw UploadError("refused", h.status);
        acked = offsetOf(h);
      }
      return { done: true };
    } finally {
      stopped = true;
      held.length = 0;
      wake("sealer");
    }
  }

  // -- records in sessionStorage -----------------------------------------------------------------

  function storage() {
    try {
      return global.sessionStorage || null;
    } catch (_e) {
      return null; // storage turned off: no resuming after a reload, everything else works
    }
  }

  function u64(n) {
    var b = new Uint8Array(8);
    for (var i = 7; i >= 0; i--) {
      b[i] = n % 256;
      n = Math.floor(n / 256);
    }
    return b;
  }

  // The record's name: BLAKE2b of the file's size, modification time, name and first MiB, and
  // of the keys it is sealed to (a new key set makes a new envelope), as hex.
  async function fingerprint(file, keys) {
    var sodium = global.sodium;
    var head = new Uint8Array(await file.slice(0, MIB).arrayBuffer());
    var name = encoder.encode(file.name || "");
    var parts = [encoder.encode(LABEL), u64(file.size), u64(file.lastModified || 0), u64(name.length), name];
    parts.push(u64(keys.length));
    keys.forEach(function (k) {
      parts.push(k);
    });
    parts.push(head);
    var size = parts.reduce(function (n, p) {
      return n + p.length;
    }, 0);
    var data = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) {
      data.set(p, at);
      at += p.length;
    });
    return sodium.to_hex(sodium.crypto_generichash(32, data, null));
  }

  function b64(bytes) {
    return global.sodium.to_base64(bytes, global.sodium.base64_variants.ORIGINAL);
  }

  function unb64(s) {
    return global.sodium.from_base64(s, global.sodium.base64_variants.ORIGINAL);
  }

  function loadRecord(name) {
    var store = storage();
    if (!name || !store) return null;
    try {
      var r = JSON.parse(store.getItem(RECORD + name));
      if (!r || r.v !== 1 || !/^[A-Za-z0-9_-]{1,128}$/.test(r.id) || !Number.isSafeInteger(r.length)) return null;
      return { id: r.id, length: r.length, payloadKey: unb64(r.key), header: unb64(r.header) };
    } catch (_e) {
      return null;
    }
  }

  function saveRecord(name, state) {
    var store = storage();
    if (!name || !store) return;
    var r = { v: 1, id: state.id, length: state.length, key: b64(state.payloadKey), header: b64(state.header) };
    try {
      store.setItem(RECORD + name, JSON.stringify(r));
    } catch (_e) {
      // full or refused: this upload just cannot resume after a reload
    }
  }

  function dropRecord(name) {
    var store = storage();
    if (name && store) store.removeItem(RECORD + name);
  }

  // -- one item ----------------------------------------------------------------------------------

  function idOf(location) {
    var m = /\/uploads\/([A-Za-z0-9_-]{1,128})$/.exec(location || "");
    return m ? m[1] : null;
  }

  async function create(control, length, name) {
    var r = await persist(control, function () {
      return http(control, "POST", "/uploads", tus(control, { "Upload-Length": String(length) }), null);
    });
    if (r.status === 413) throw UploadError("too_big", 413, name);
    var id = r.status === 201 ? idOf(r.header("Location")) : null;
    if (!id) throw UploadError("refused", r.status, name);
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
      var h = await persist(control, function () {
        return http(control, "HEAD", "/uploads/" + state.id, tus(control));
      });
      var held = h.status === 200 ? offsetOf(h) : null;
      if (held === null || +h.header("Upload-Length") !== state.length) {
        dropRecord(item.record);
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
        throw UploadError("unreadable", 0, item.name);
      }
      if (state && sealer.length !== state.length) {
        // Not the file the record was made for after all: start afresh.
        dropRecord(item.record);
        sealer.close();
        state = null;
        offset = 0;
        continue;
      }
      if (!state) {
        state = { length: sealer.length, payloadKey: sealer.payloadKey, header: sealer.header };
        state.id = await create(control, sealer.length, item.name);
        offset = 0;
        saveRecord(item.record, state);
      }
      item.state = state;
      item.length = state.length;
      if (offset > 0) control.event({ phase: "resuming", arrived: offset, done: item.before + offset, total: control.total });
      var result;
      try {
        result = await pump(control, sealer, state.id, offset, progress);
      } catch (e) {
        if (e && e.reason === "unreadable") throw e;
        if (e && e.name === "UploadError") {
          e.item = e.item || item.name;
          throw e;
        }
        throw UploadError("unreadable", 0, item.name); // the file could not be read to its end
      } finally {
        sealer.close();
      }
      if (result.done) return state.id;
      if (result.rewind !== undefined) {
        offset = result.rewind;
        continue;
      }
      // Gone (expired or unknown): the same envelope again, in a new upload.
      if (++restarts > RESTARTS) throw UploadError("expired", 410, item.name);
      dropRecord(item.record);
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
    var r = await persist(control, function () {
      control.event({ phase: "committing" });
      return http(control, "POST", opts.action + "?sealed=browser", headers, body.toString());
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
        var fp = await fingerprint(it.file, opts.keys);
        seen[fp] = (seen[fp] || 0) + 1;
        it.record = fp + "." + seen[fp];
        var rec = loadRecord(it.record);
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
            dropRecord(x.record);
          });
          return c.reply;
        }
        if ((c.status === 409 || c.status === 410) && round < RESTARTS) {
          // 409: some upload is not whole after all (resume it); 410: one expired (send it again).
          var again = named(items, c.reply, c.status === 409 ? "incomplete" : "gone");
          if (c.status === 410) {
            again.forEach(function (x) {
              dropRecord(x.record);
              x.state = null;
            });
          }
          await sendAll(again);
          continue;
        }
        if (c.status === 400) {
          items.forEach(function (x) {
            dropRecord(x.record); // the server deleted those uploads
          });
        }
        var e = UploadError(c.status === 410 ? "expired" : "refused", c.status);
        e.text = (c.reply && c.reply.error) || "";
        throw e;
      }
    } catch (err) {
      if (err && err.reason === "cancelled") forget(items, opts.csrf);
      else if (err && (err.reason === "too_big" || err.reason === "refused") && err.status !== 403) {
        // Refused for good (413, 415, 400): no reason to keep what was sent of it.
        items.forEach(function (x) {
          if (x.name === err.item) dropRecord(x.record);
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
      dropRecord(it.record);
      if (!it.state || !it.state.id) return;
      var url = "/uploads/" + it.state.id;
      (function attempt(tries) {
        var xhr = new XMLHttpRequest();
        xhr.open("DELETE", url);
        xhr.setRequestHeader("Tus-Resumable", "1.0.0");
        xhr.setRequestHeader("Tipline-CSRF-Token", csrf);
        function again() {
          if (tries < 4) setTimeout(attempt, 1000 * DELAYS[tries], tries + 1);
        }
        xhr.onload = function () {
          if (xhr.status === 423 || xhr.status >= 500) again();
        };
        xhr.onerror = again;
        xhr.send();
      })(0);
    });
  }

  global.TiplineUpload = Object.freeze({ send: send, PART: PART, HELD: HELD, DELAYS: DELAYS });
})(window);
