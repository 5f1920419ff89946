/*
 * The uploads' resume records (docs/uploads.md, "After a reload"): what this tab keeps, under
 * which name. A plain script, loaded before upload.js; it defines one global,
 * TiplineUploadRecords (fingerprint(file, keys), load(name), save(name, state), drop(name)).
 *
 * sessionStorage (this tab only) keeps one record per file being sent, under a BLAKE2b
 * fingerprint of the file (its size, modification time, name, first MiB, and the recipients'
 * keys): {v, id, length, key, header}, the upload's id, the envelope's length, its payload key
 * and its header. The same file picked again is sealed again with them, which gives the same
 * bytes, and only what the server lacks is sent. Storage turned off or full only loses that.
 */
(function (global) {
  "use strict";

  var MIB = 1024 * 1024;
  var RECORD = "tipline.upload.";
  var LABEL = "tipline/v1/upload-record";
  var encoder = new TextEncoder();

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

  function load(name) {
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

  function save(name, state) {
    var store = storage();
    if (!name || !store) return;
    var r = { v: 1, id: state.id, length: state.length, key: b64(state.payloadKey), header: b64(state.header) };
    try {
      store.setItem(RECORD + name, JSON.stringify(r));
    } catch (_e) {
      // full or refused: this upload just cannot resume after a reload
    }
  }

  function drop(name) {
    var store = storage();
    if (name && store) store.removeItem(RECORD + name);
  }

  global.TiplineUploadRecords = Object.freeze({ fingerprint: fingerprint, load: load, save: save, drop: drop });
})(window);
