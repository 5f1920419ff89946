/*
 * One envelope sent in parts (docs/uploads.md): the sealer's output cut at known offsets, each
 * part sent with PATCH while the next are sealed. The one loop that holds the file's bytes: at
 * most three parts of 4 MiB (one being sent, two sealed ahead), so the tab's memory does not
 * grow with the file. A plain script, loaded after upload-http.js, before upload.js; it
 * defines one global, TiplineUploadParts (pump, PART, HELD).
 */
(function (global) {
  "use strict";

  var H = global.TiplineUploadHttp; // used only once the page sends: by then it is there
  var PART = 4 * 1024 * 1024;
  var HELD = 3; // parts in memory at once: one being sent, two sealed ahead

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
          r = await H.http(
            control,
            "PATCH",
            url,
            H.tus(control, { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(part.offset) }),
            // A Blob, not the Uint8Array itself: Chromium uploads a typed-array body about ten
            // times slower (0.8-2 s for 4 MiB over loopback, against 0.1 s; bench/upload.py).
            new Blob([part.bytes]),
            function (sent) {
              progress(acked, sent);
            }
          );
        } catch (e) {
          if (!(e instanceof H.Lost)) throw e;
        }
        if (r && (r.status === 204 || r.status === 409) && H.offsetOf(r) !== null) {
          // 409: the server holds another amount (a part whose answer was lost): go on from there.
          acked = H.offsetOf(r);
          if (r.status === 204) tries = 0;
          continue;
        }
        if (r && (r.status === 404 || r.status === 410)) return { gone: true };
        if (r && !H.retryable(r)) {
          throw H.UploadError(r.status === 413 ? "too_big" : "refused", r.status);
        }
        await H.pause(control, tries++, r !== null);
        // Ask how much arrived before sending again.
        var h = await H.persist(control, function () {
          return H.http(control, "HEAD", url, H.tus(control));
        });
        if (h.status === 404 || h.status === 410) return { gone: true };
        if (h.status !== 200 || H.offsetOf(h) === null) throw H.UploadError("refused", h.status);
        acked = H.offsetOf(h);
      }
      return { done: true };
    } finally {
      stopped = true;
      held.length = 0;
      wake("sealer");
    }
  }

  global.TiplineUploadParts = Object.freeze({ pump: pump, PART: PART, HELD: HELD });
})(window);
