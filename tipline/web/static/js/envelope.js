/*
 * Tipline envelope format v1, writer side (docs/envelope.md), for the browser.
 *
 * A plain script: load sodium.js first, then this file. It defines one global,
 * TiplineEnvelope, and does exactly what Python's tipline.format.stream.EnvelopeWriter
 * does, so the offline tool reads what a source's browser sealed:
 *
 *   header = "TIPLINE" | 0x01 | count | count * (key_id(8) | crypto_box_seal(payload_key)(80))
 *            | secretstream header(24)
 *   P      = content | zero padding | meta JSON | meta length (2 bytes, big-endian),
 *            len(P) = padme(len(content) + len(meta) + 2)
 *   P is pushed in 64 KiB chunks: TAG_MESSAGE, the last TAG_FINAL; the header is the
 *   additional data of the first chunk only.
 *
 * Files are read with blob.slice() one 1 MiB piece at a time, and sealed as they are read,
 * so the page never holds the plaintext of a large file at once. The sealer hands the
 * ciphertext out piece by piece (upload.js sends it in parts); sealBlob gathers it into a Blob.
 *
 * API (every function that needs libsodium returns a Promise and waits for sodium.ready):
 *   TiplineEnvelope.sealer(blob, meta, recipientKeys, resume, onProgress)           -> Promise<sealer>
 *     (see sealer below: length, payloadKey, header, next(), close())
 *   TiplineEnvelope.sealBlob(blob, {kind, name, type}, recipientKeys, onProgress) -> Promise<Blob>
 *   TiplineEnvelope.sealText(text, recipientKeys, onProgress)                     -> Promise<Blob>
 *   TiplineEnvelope.keyId(publicKey)                                              -> Promise<Uint8Array(8)>
 *   TiplineEnvelope.encodeMeta({kind, name, type}, length)                        -> Uint8Array
 *   TiplineEnvelope.fileMeta(name, type)                                          -> {kind, name, type} that fits
 *   TiplineEnvelope.messageMeta()                                                 -> the message's meta
 *   TiplineEnvelope.envelopeLength(contentLength, meta, recipientCount)           -> number
 *   TiplineEnvelope.padme(n)                                                      -> number
 * recipientKeys: 1 to 32 Uint8Array(32) X25519 public keys.
 * onProgress(doneBytes, totalBytes): content bytes sealed so far, optional.
 */
(function (global) {
  "use strict";

  var VERSION = 1;
  var MAGIC = [0x54, 0x49, 0x50, 0x4c, 0x49, 0x4e, 0x45]; // "TIPLINE"
  var CHUNK = 65536;
  var READ_PIECE = 16 * CHUNK; // bytes read per blob.slice(); a multiple of CHUNK
  var FLUSH_BYTES = 16 * 1024 * 1024; // output arrays are merged into a Blob this often
  var KEY_BYTES = 32;
  var KEY_ID_BYTES = 8;
  var SEALED_KEY_BYTES = 80;
  var STREAM_HEADER_BYTES = 24;
  var ABYTES = 17; // secretstream's tag and MAC per chunk
  var MAX_RECIPIENTS = 32;
  var MAX_META_BYTES = 4096;
  var MAX_NAME_CHARS = 1024;
  var MAX_TYPE_CHARS = 255;
  var LABEL_KEY_ID = "tipline/v1/key-id";
  var MESSAGE_TYPE = "text/plain; charset=utf-8";

  var encoder = new TextEncoder();

  function sodiumReady() {
    var s = global.sodium;
    if (!s || !s.ready || typeof s.ready.then !== "function") {
      return Promise.reject(new Error("TiplineEnvelope: load sodium.js before using envelope.js."));
    }
    return s.ready.then(function () {
      return global.sodium;
    });
  }

  // -- Padmé ------------------------------------------------------------------------------

  // Number of bits of a non-negative safe integer, without 32-bit bitwise operators.
  function bitLength(n) {
    var bits = 0;
    var p = 1;
    while (p <= n) {
      p *= 2;
      bits += 1;
    }
    return bits;
  }

  // padme(U): E = bit_length(U) - 1, S = bit_length(E), round U up to a multiple of 2^(E-S).
  // Plain arithmetic on doubles, exact for every safe integer (sizes far above 4 GiB).
  function padme(n) {
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
      throw new RangeError("padme is defined for integer lengths of at least 1");
    }
    var e = bitLength(n) - 1;
    var s = bitLength(e);
    var step = Math.pow(2, e - s);
    var padded = Math.ceil(n / step) * step;
    if (!Number.isSafeInteger(padded)) {
      throw new RangeError("length too large");
    }
    return padded;
  }

  // -- metadata -----------------------------------------------------------------------------

  // Replace lone surrogates by U+FFFD, so the meta is valid UTF-8 (as Python requires).
  function wellFormed(s) {
    var out = "";
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          out += s.charAt(i) + s.charAt(i + 1);
          i += 1;
          continue;
        }
      }
      out += c >= 0xd800 && c <= 0xdfff ? "\ufffd" : s.charAt(i);
    }
    return out;
  }

  function codePoints(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) i += 1;
      }
      n += 1;
    }
    return n;
  }

  function checkString(value, what) {
    if (value === undefined || value === null) return "";
    if (typeof value !== "string") throw new TypeError("TiplineEnvelope: meta." + what + " must be a string");
    return wellFormed(value);
  }

  // The meta JSON, byte for byte what Python's Metadata.encode(length) writes:
  // json.dumps({"v","kind","name","type","length"}, separators=(",", ":"), ensure_ascii=False).
  // JSON.stringify escapes exactly the same characters (", \, U+0000..U+001F) the same way.
  function encodeMeta(meta, length) {
    if (!meta || typeof meta !== "object") throw new TypeError("TiplineEnvelope: meta must be an object");
    var kind = meta.kind;
    if (kind !== "message" && kind !== "file") {
      throw new TypeError("TiplineEnvelope: meta.kind must be 'message' or 'file'");
    }
    var name = checkString(meta.name, "name");
    var type = checkString(meta.type, "type");
    if (kind === "message" && name !== "") {
      throw new TypeError("TiplineEnvelope: a message has no file name"); // readers refuse one (docs/envelope.md)
    }
    if (codePoints(name) > MAX_NAME_CHARS || codePoints(type) > MAX_TYPE_CHARS) {
      throw new RangeError("TiplineEnvelope: the file name or type is too long");
    }
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError("TiplineEnvelope: invalid content length");
    }
    var json = JSON.stringify({ v: VERSION, kind: kind, name: name, type: type, length: length });
    var bytes = encoder.encode(json);
    if (bytes.length > MAX_META_BYTES) {
      throw new RangeError("TiplineEnvelope: metadata does not fit in 4096 bytes");
    }
    return bytes;
  }

  // -- long names: docs/envelope.md "Long names", as tipline/format/shorten.py ----------------

  // The meta of a file with an empty name and type and the longest length JSON could carry;
  // characters that belong to the one before (marks, joiner, selectors, skin tones, tags).
  var FRAME_BYTES = '{"v":1,"kind":"file","name":"","type":"","length":18446744073709551615}'.length;
  var ATTACHES = /^[\p{Mn}\p{Mc}\p{Me}\u200d\ufe00-\ufe0f\u{e0100}-\u{e01ef}\u{1f3fb}-\u{1f3ff}\u{e0020}-\u{e007f}]$/u;

  function jsonBytes(s) {
    return encoder.encode(JSON.stringify(s)).length - 2;
  }

  function regional(c) {
    return /^[\u{1f1e6}-\u{1f1ff}]$/u.test(c);
  }

  // The longest start of cps (code points) within both limits, cut between whole characters.
  function prefix(cps, maxChars, maxBytes) {
    var k = 0;
    for (var used = 0; k < cps.length && k < maxChars; k++) {
      used += jsonBytes(cps[k]);
      if (used > maxBytes) break;
    }
    while (k > 0 && k < cps.length) {
      if (ATTACHES.test(cps[k]) || cps[k - 1] === "\u200d") {
        k -= 1;
        continue;
      }
      if (!regional(cps[k]) || !regional(cps[k - 1])) break;
      var run = 0; // regional indicators pair up into flags from the start of their run
      while (run < k && regional(cps[k - 1 - run])) run += 1;
      if (run % 2 === 0) break;
      k -= 1;
    }
    return cps.slice(0, k);
  }

  // A file's meta, its name and type shortened so that the meta always fits.
  function fileMeta(name, type) {
    var n = Array.from(checkString(name, "name"));
    var t = prefix(Array.from(checkString(type, "type")), MAX_TYPE_CHARS, MAX_META_BYTES).join("");
    var budget = MAX_META_BYTES - FRAME_BYTES - jsonBytes(t);
    if (n.length <= MAX_NAME_CHARS && jsonBytes(n.join("")) <= budget) return { kind: "file", name: n.join(""), type: t };
    var dot = n.lastIndexOf(".");
    var ext = dot > 0 && n.length - dot <= 16 ? n.slice(dot) : [];
    var tail = "\u2026" + ext.join("");
    var kept = prefix(n.slice(0, n.length - ext.length), MAX_NAME_CHARS - 1 - ext.length, budget - jsonBytes(tail));
    return { kind: "file", name: kept.join("") + tail, type: t };
  }

  // -- keys and header ----------------------------------------------------------------------

  function checkKeys(recipientKeys) {
    if (!recipientKeys || typeof recipientKeys.length !== "number") {
      throw new TypeError("TiplineEnvelope: recipientKeys must be an array of Uint8Array(32)");
    }
    var keys = Array.prototype.slice.call(recipientKeys);
    if (keys.length < 1 || keys.length > MAX_RECIPIENTS) {
      throw new RangeError("TiplineEnvelope: an envelope has 1 to " + MAX_RECIPIENTS + " recipients");
    }
    keys.forEach(function (k) {
      if (!(k instanceof Uint8Array) || k.length !== KEY_BYTES) {
        throw new TypeError("TiplineEnvelope: a recipient key must be a Uint8Array of 32 bytes");
      }
    });
    return keys;
  }

  function keyIdWith(sodium, pk) {
    var label = encoder.encode(LABEL_KEY_ID);
    var data = new Uint8Array(label.length + pk.length);
    data.set(label, 0);
    data.set(pk, label.length);
    return sodium.crypto_generichash(32, data, null).slice(0, KEY_ID_BYTES);
  }

  function keyId(pk) {
    return sodiumReady().then(function (sodium) {
      return keyIdWith(sodium, checkKeys([pk])[0]);
    });
  }

  function buildHeader(sodium, keys, payloadKey, streamHeader) {
    if (streamHeader.length !== STREAM_HEADER_BYTES) throw new Error("TiplineEnvelope: bad stream header");
    var stanza = KEY_ID_BYTES + SEALED_KEY_BYTES;
    var header = new Uint8Array(MAGIC.length + 2 + stanza * keys.length + STREAM_HEADER_BYTES);
    header.set(MAGIC, 0);
    header[MAGIC.length] = VERSION;
    header[MAGIC.length + 1] = keys.length;
    var off = MAGIC.length + 2;
    keys.forEach(function (pk) {
      var sealed = sodium.crypto_box_seal(payloadKey, pk);
      if (sealed.length !== SEALED_KEY_BYTES) throw new Error("TiplineEnvelope: bad sealed key");
      header.set(keyIdWith(sodium, pk), off);
      header.set(sealed, off + KEY_ID_BYTES);
      off += stanza;
    });
    header.set(streamHeader, off);
    return header;
  }

  // -- sealing ------------------------------------------------------------------------------

  var YIELD_MS = 50; // longest stretch of sealing without letting the page repaint

  function now() {
    return typeof performance !== "undefined" ? performance.now() : Date.now();
  }

  // Let the browser run other tasks (repaint the progress bar). A message, not
  // setTimeout: timers are throttled in background tabs, messages are not.
  function yieldToBrowser() {
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function () {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }

  function trailerOf(meta, length) {
    var metaBytes = encodeMeta(meta, length);
    var trailer = new Uint8Array(metaBytes.length + 2);
    trailer.set(metaBytes, 0);
    trailer[metaBytes.length] = Math.floor(metaBytes.length / 256);
    trailer[metaBytes.length + 1] = metaBytes.length % 256;
    return trailer;
  }

  // The state and header to seal with: fresh ones, or the saved ones of an envelope begun
  // before. The header must be the saved one whole: the sealed payload keys in it are random,
  // and the header is the first chunk's additional data, whose tag every later chunk's nonce
  // depends on. init_pull with the saved key and stream header gives the state init_push gave.
  function startStream(sodium, keys, resume) {
    if (resume) {
      var key = resume.payloadKey;
      var header = resume.header;
      if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES || !(header instanceof Uint8Array)) {
        throw new TypeError("TiplineEnvelope: resume needs {payloadKey, header} as Uint8Arrays");
      }
      if (header.length < MAGIC.length + 2 + STREAM_HEADER_BYTES) throw new Error("TiplineEnvelope: bad header");
      var streamHeader = header.subarray(header.length - STREAM_HEADER_BYTES);
      var pulled = sodium.crypto_secretstream_xchacha20poly1305_init_pull(streamHeader, key);
      return { state: pulled, header: header.slice(), payloadKey: key.slice() };
    }
    var payloadKey = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    var init = sodium.crypto_secretstream_xchacha20poly1305_init_push(payloadKey);
    return { state: init.state, header: buildHeader(sodium, keys, payloadKey, init.header), payloadKey: payloadKey };
  }

  // The exact length of the envelope of `contentLength` bytes with this meta, for `recipients`
  // keys: header + padme(content + meta + 2) + 17 bytes per 64 KiB chunk (docs/envelope.md).
  function envelopeLength(contentLength, meta, recipients) {
    var total = padme(contentLength + trailerOf(meta, contentLength).length);
    var header = MAGIC.length + 2 + recipients * (KEY_ID_BYTES + SEALED_KEY_BYTES) + STREAM_HEADER_BYTES;
    return header + total + Math.ceil(total / CHUNK) * ABYTES;
  }

  /*
   * A streaming sealer: the envelope of blob, handed out in order by next(), one read piece
   * (16 chunks, about 1 MiB) at a time, so that nothing larger is ever held. Its exact length
   * is known before anything is sealed: header + padme(content + meta + 2) + 17 per chunk.
   *
   *   s = await TiplineEnvelope.sealer(blob, meta, recipientKeys, resume, onProgress)
   *   s.length                the envelope's length in bytes
   *   s.payloadKey, s.header  what re-creates the same envelope: pass them back as resume
   *   s.next()                Promise<Uint8Array>, the header first; null once all is out.
   *                           The bytes are valid until the next call only (one buffer, reused):
   *                           copy them (a Blob, a part) before asking for more.
   *   s.close()               wipes the payload key held by the sealer
   *
   * resume = {payloadKey, header}, from an earlier sealer of the same blob: the output is then
   * byte for byte the earlier one's (recipientKeys are checked but not used).
   */
  async function sealer(blob, meta, recipientKeys, resume, onProgress) {
    if (!(blob instanceof Blob)) throw new TypeError("TiplineEnvelope: sealer needs a File or Blob");
    if (onProgress !== undefined && onProgress !== null && typeof onProgress !== "function") {
      throw new TypeError("TiplineEnvelope: onProgress must be a function");
    }
    var sodium = await sodiumReady();
    var keys = checkKeys(recipientKeys);
    var length = blob.size;
    var trailer = trailerOf(meta, length);
    var total = padme(length + trailer.length); // len(P)
    var trailerStart = total - trailer.length;
    var chunks = Math.ceil(total / CHUNK);
    var TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    var TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    var stream = startStream(sodium, keys, resume || null);
    var state = stream.state;
    var start = 0; // the next chunk's offset in P
    var headerOut = false;
    var outBuffer = null;
    var reported = -1;
    var lastYield = now();

    function report(done) {
      if (onProgress && done !== reported) {
        reported = done;
        onProgress(done, length);
      }
    }

    async function next() {
      if (!headerOut) {
        headerOut = true;
        report(0);
        return stream.header.slice();
      }
      if (start >= total) return null;
      // One read piece: chunks start on its boundaries, so it holds each chunk's whole content.
      var pieceStart = start;
      var pieceEnd = Math.min(start + READ_PIECE, total);
      var piece = null;
      if (start < length) {
        var want = Math.min(READ_PIECE, length - start);
        piece = new Uint8Array(await blob.slice(start, start + want).arrayBuffer());
        if (piece.length !== want) throw new Error("TiplineEnvelope: the file changed while it was read");
      }
      var n = Math.ceil((pieceEnd - pieceStart) / CHUNK);
      // One output buffer, reused: a page that sends gigabytes makes no garbage of it.
      if (!outBuffer) outBuffer = new Uint8Array(READ_PIECE + (READ_PIECE / CHUNK) * ABYTES);
      var out = outBuffer.subarray(0, pieceEnd - pieceStart + n * ABYTES);
      var at = 0;
      for (; start < pieceEnd; start += CHUNK) {
        var end = Math.min(start + CHUNK, total);
        var chunk;
        if (end <= length) {
          chunk = piece.subarray(start - pieceStart, end - pieceStart);
        } else {
          chunk = new Uint8Array(end - start); // zero-filled: the padding
          if (start < length) chunk.set(piece.subarray(start - pieceStart, length - pieceStart), 0);
          if (end > trailerStart) {
            var from = Math.max(start, trailerStart);
            chunk.set(trailer.subarray(from - trailerStart, end - trailerStart), from - start);
          }
        }
        var tag = end === total ? TAG_FINAL : TAG_MESSAGE;
        var sealed = sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, start === 0 ? stream.header : null, tag);
        out.set(sealed, at);
        at += sealed.length;
        if (now() - lastYield >= YIELD_MS) {
          report(Math.min(end, length));
          await yieldToBrowser(); // wasm2js without a JIT seals about 1 MiB/s
          lastYield = now();
        }
      }
      report(Math.min(start, length));
      return out;
    }

    if (ABYTES !== sodium.crypto_secretstream_xchacha20poly1305_ABYTES) throw new Error("TiplineEnvelope: ABYTES");
    return {
      length: stream.header.length + total + chunks * ABYTES,
      headerLength: stream.header.length,
      contentLength: length,
      payloadKey: stream.payloadKey,
      header: stream.header,
      next: next,
      close: function () {
        sodium.memzero(stream.payloadKey);
      },
    };
  }

  // The whole envelope as one Blob. Output is merged into Blobs every 16 MiB: a Blob may live
  // outside the JS heap (browsers move big ones to disk).
  async function sealBlob(blob, meta, recipientKeys, onProgress) {
    var s = await sealer(blob, meta, recipientKeys, null, onProgress);
    s.close();
    var parts = [];
    var pending = [];
    var pendingBytes = 0;
    for (var bytes = await s.next(); bytes !== null; bytes = await s.next()) {
      pending.push(new Blob([bytes])); // a copy: the sealer reuses its buffer
      pendingBytes += bytes.length;
      if (pendingBytes >= FLUSH_BYTES) {
        parts.push(new Blob(pending));
        pending = [];
        pendingBytes = 0;
      }
    }
    return new Blob(parts.concat(pending), { type: "application/octet-stream" });
  }

  function messageMeta() {
    return { kind: "message", name: "", type: MESSAGE_TYPE };
  }

  function sealText(text, recipientKeys, onProgress) {
    if (typeof text !== "string") return Promise.reject(new TypeError("TiplineEnvelope: text must be a string"));
    var bytes = encoder.encode(text);
    return sealBlob(new Blob([bytes]), messageMeta(), recipientKeys, onProgress);
  }

  global.TiplineEnvelope = Object.freeze({
    VERSION: VERSION,
    CHUNK: CHUNK,
    // For envelope-open.js, the reader, which loads only where replies are read.
    FORMAT: Object.freeze({
      VERSION: VERSION,
      MAGIC: Object.freeze(MAGIC.slice()),
      CHUNK: CHUNK,
      KEY_BYTES: KEY_BYTES,
      KEY_ID_BYTES: KEY_ID_BYTES,
      SEALED_KEY_BYTES: SEALED_KEY_BYTES,
      STREAM_HEADER_BYTES: STREAM_HEADER_BYTES,
      MAX_RECIPIENTS: MAX_RECIPIENTS,
      MAX_META_BYTES: MAX_META_BYTES,
    }),
    keyIdWith: keyIdWith,
    sealer: sealer,
    sealBlob: sealBlob,
    sealText: sealText,
    messageMeta: messageMeta,
    envelopeLength: envelopeLength,
    keyId: keyId,
    encodeMeta: encodeMeta,
    fileMeta: fileMeta,
    padme: padme,
  });
})(typeof globalThis !== "undefined" ? globalThis : this);
