/*
 * Tipline envelope format v1, reader side (docs/envelope.md "Reading"), for the browser.
 *
 * A source opens the newsroom's replies with it, in memory, with the secret key derived
 * from the codename (docs/conversations.md). A plain script: load sodium.js (or
 * sodium-sumo.js) and envelope.js first. It defines one global, TiplineEnvelopeOpen:
 *
 *   TiplineEnvelopeOpen.openBytes(envelope, secretKey) -> Promise<{meta, content}>
 *
 * envelope and secretKey are Uint8Arrays. It resolves with the meta ({v, kind, name, type,
 * length}) and the content only once the final tag has been seen, and rejects with an Error
 * whose name is Python's error class (NotAnEnvelope, UnsupportedVersion, MalformedHeader,
 * TooManyRecipients, NoMatchingKey, DecryptionFailed, MalformedPayload). It accepts only the
 * compact meta JSON that both writers produce (envelope.js's encodeMeta, Python's Metadata),
 * which also refuses a repeated key that JSON.parse would hide. A file of its own, so the
 * submission form does not carry it.
 */
(function (global) {
  "use strict";

  // The format's numbers and its key id come from envelope.js, loaded before this file
  // (deferred scripts run in order), so that writer and reader cannot drift apart.
  var E = global.TiplineEnvelope;
  if (!E) return; // envelope.js failed to load: the page falls back to the server
  var F = E.FORMAT;
  var VERSION = F.VERSION;
  var MAGIC = F.MAGIC;
  var CHUNK = F.CHUNK;
  var KEY_BYTES = F.KEY_BYTES;
  var KEY_ID_BYTES = F.KEY_ID_BYTES;
  var SEALED_KEY_BYTES = F.SEALED_KEY_BYTES;
  var STREAM_HEADER_BYTES = F.STREAM_HEADER_BYTES;
  var MAX_RECIPIENTS = F.MAX_RECIPIENTS;
  var MAX_META_BYTES = F.MAX_META_BYTES;

  function fail(name) {
    var e = new Error("TiplineEnvelopeOpen: " + name);
    e.name = name;
    return e;
  }

  function same(a, b) {
    if (a.length !== b.length) return false;
    var d = 0;
    for (var i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  function parseMeta(bytes) {
    try {
      var m = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      if (m && typeof m === "object" && !Array.isArray(m) && Object.keys(m).length === 5 && m.v === VERSION &&
          same(E.encodeMeta(m, m.length), bytes)) {
        return m;
      }
    } catch (_e) {
      // not UTF-8, not JSON, or values a writer would refuse: all the same failure
    }
    throw fail("MalformedPayload");
  }

  // Steps 1 to 5: the payload key, from the stanza that carries this key's id.
  function unlock(sodium, data, secretKey) {
    if (data.length < MAGIC.length || !same(data.subarray(0, MAGIC.length), Uint8Array.from(MAGIC))) {
      throw fail("NotAnEnvelope");
    }
    if (data.length < MAGIC.length + 2) throw fail("MalformedHeader");
    if (data[MAGIC.length] !== VERSION) throw fail("UnsupportedVersion");
    var count = data[MAGIC.length + 1];
    if (count > MAX_RECIPIENTS) throw fail("TooManyRecipients");
    var stanza = KEY_ID_BYTES + SEALED_KEY_BYTES;
    var headerLength = MAGIC.length + 2 + stanza * count + STREAM_HEADER_BYTES;
    if (count < 1 || data.length < headerLength) throw fail("MalformedHeader");
    var publicKey = sodium.crypto_scalarmult_base(secretKey);
    var mine = E.keyIdWith(sodium, publicKey);
    var matched = false;
    for (var i = 0; i < count; i++) {
      var off = MAGIC.length + 2 + stanza * i;
      if (!same(data.subarray(off, off + KEY_ID_BYTES), mine)) continue;
      matched = true;
      try {
        return { headerLength: headerLength, key: sodium.crypto_box_seal_open(
          data.subarray(off + KEY_ID_BYTES, off + stanza), publicKey, secretKey) };
      } catch (_e) {
        // another key with the same id: try the next matching stanza
      }
    }
    throw fail(matched ? "DecryptionFailed" : "NoMatchingKey");
  }

  // Step 6: every chunk authenticated, the header bound to the first, TAG_FINAL last and only last.
  function pullAll(sodium, data, headerLength, payloadKey) {
    var state;
    try {
      state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(
        data.subarray(headerLength - STREAM_HEADER_BYTES, headerLength), payloadKey);
    } catch (_e) {
      throw fail("DecryptionFailed");
    } finally {
      sodium.memzero(payloadKey);
    }
    var ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES;
    var parts = [];
    var total = 0;
    var final = false;
    var ad = data.subarray(0, headerLength);
    for (var at = headerLength; at < data.length; ) {
      var n = Math.min(CHUNK + ABYTES, data.length - at);
      if (final || n < ABYTES + 1) throw fail("DecryptionFailed");
      var r = false;
      try {
        r = sodium.crypto_secretstream_xchacha20poly1305_pull(state, data.subarray(at, at + n), ad);
      } catch (_e) {
        r = false;
      }
      var tags = [sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
        sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL];
      if (!r || tags.indexOf(r.tag) < 0) throw fail("DecryptionFailed");
      final = r.tag === tags[1];
      parts.push(r.message);
      total += r.message.length;
      at += n;
      ad = null;
    }
    if (!final) throw fail("DecryptionFailed");
    var p = new Uint8Array(total);
    for (var k = 0, pos = 0; k < parts.length; pos += parts[k].length, k++) p.set(parts[k], pos);
    return p;
  }

  async function openBytes(data, secretKey) {
    if (!(data instanceof Uint8Array)) throw new TypeError("TiplineEnvelopeOpen: the envelope is a Uint8Array");
    if (!(secretKey instanceof Uint8Array) || secretKey.length !== KEY_BYTES) {
      throw new TypeError("TiplineEnvelopeOpen: a secret key is a Uint8Array of 32 bytes");
    }
    if (!global.sodium || !global.TiplineEnvelope) throw new Error("TiplineEnvelopeOpen: load sodium.js and envelope.js first.");
    await global.sodium.ready;
    var sodium = global.sodium;
    var unlocked = unlock(sodium, data, secretKey);
    var p = pullAll(sodium, data, unlocked.headerLength, unlocked.key);
    // Step 7, after authentication: the meta, the length, zero padding, and Padmé's length.
    var metaLength = p.length >= 2 ? p[p.length - 2] * 256 + p[p.length - 1] : 0;
    if (metaLength < 2 || metaLength > MAX_META_BYTES || metaLength > p.length - 2) throw fail("MalformedPayload");
    var metaStart = p.length - 2 - metaLength;
    var meta = parseMeta(p.subarray(metaStart, p.length - 2));
    if (meta.length > metaStart || E.padme(meta.length + metaLength + 2) !== p.length) {
      throw fail("MalformedPayload");
    }
    for (var z = meta.length; z < metaStart; z++) if (p[z] !== 0) throw fail("MalformedPayload");
    return { meta: meta, content: p.slice(0, meta.length) };
  }

  global.TiplineEnvelopeOpen = Object.freeze({ openBytes: openBytes });
})(typeof globalThis !== "undefined" ? globalThis : this);
