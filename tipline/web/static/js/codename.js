/*
 * Tipline codenames, for the browser (docs/conversations.md).
 *
 * A plain script: load sodium-sumo.js (the standard sodium.js has no crypto_pwhash) and
 * codename-words.js first, then this file. It defines one global, TiplineCodename, and does
 * exactly what Python's tipline.format.codename does; tests/vectors/codename/ holds both to it:
 *
 *   canonical = the 7 words, NFKC + lower case, any run of white space or hyphens between
 *               words as one separator, joined by single spaces
 *   salt      = BLAKE2b-128("tipline/v1/codename-salt" || installation salt (16 bytes))
 *   master    = Argon2id(canonical as UTF-8, salt, OPSLIMIT, MEMLIMIT), 32 bytes
 *   verifier  = crypto_kdf_derive_from_key(32, 1, "TLconv01", master)
 *   key pair  = crypto_box_seed_keypair(crypto_kdf_derive_from_key(32, 2, "TLconv01", master))
 *
 * API (functions that need libsodium return a Promise and wait for sodium.ready):
 *   TiplineCodename.newCodename()                   -> Promise<string>
 *   TiplineCodename.normalise(text)                 -> string, or throws a BadCodename error
 *   TiplineCodename.derive(codename, installSalt)   -> Promise<{verifier, verifierHash, publicKey, secretKey}>
 * installSalt: Uint8Array(16). A BadCodename error has name "BadCodename" and a message
 * for the source (the same sentences as Python's).
 */
(function (global) {
  "use strict";

  var WORDS = 7;
  var INSTALL_SALT_BYTES = 16;
  var MAX_INPUT_CHARS = 1000; // code points
  var OPSLIMIT = 1;
  var MEMLIMIT = 1024 * 1024;
  var LABEL_SALT = "tipline/v1/codename-salt";
  var LABEL_VERIFIER_HASH = "tipline/v1/verifier-hash";
  var KDF_CONTEXT = "TLconv01";
  var SUBKEY_VERIFIER = 1;
  var SUBKEY_BOX_SEED = 2;
  var NOT_SEVEN_WORDS = "A codename is exactly seven words. Please check what you typed against your paper.";
  var UNKNOWN_WORD = "One of those words is not a codename word. Please check the spelling against your paper.";
  // The same explicit class as Python's _SEPARATORS: the two languages' \s differ.
  var SEPARATORS = /[\t\n\x0b\x0c\r \x85\u1680\u2028\u2029\-\u2010-\u2015\u2212]+/;

  var encoder = new TextEncoder();
  var alphabet = null;
  var known = null;

  function words() {
    if (alphabet === null) {
      if (typeof global.TiplineCodenameWords !== "string") {
        throw new Error("TiplineCodename: load codename-words.js before codename.js.");
      }
      alphabet = Object.freeze(global.TiplineCodenameWords.split(" "));
      known = new Set(alphabet);
    }
    return alphabet;
  }

  function sodiumReady() {
    var s = global.sodium;
    if (!s || !s.ready || typeof s.ready.then !== "function") {
      return Promise.reject(new Error("TiplineCodename: load sodium-sumo.js before using codename.js."));
    }
    return s.ready.then(function () {
      if (typeof global.sodium.crypto_pwhash !== "function") {
        throw new Error("TiplineCodename: this sodium.js has no crypto_pwhash; load sodium-sumo.js instead.");
      }
      return global.sodium;
    });
  }

  function badCodename(message) {
    var e = new Error(message);
    e.name = "BadCodename";
    return e;
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

  // Forgiving about case, spacing, line breaks and hyphens (a codename is copied by hand);
  // strict about the words: nothing is ever derived from a non-codename.
  function normalise(text) {
    if (typeof text !== "string") throw badCodename(NOT_SEVEN_WORDS);
    if (text.length > 2 * MAX_INPUT_CHARS || codePoints(text) > MAX_INPUT_CHARS) throw badCodename(NOT_SEVEN_WORDS);
    words();
    var parts = text
      .normalize("NFKC")
      .toLowerCase()
      .split(SEPARATORS)
      .filter(function (p) {
        return p !== "";
      });
    if (parts.length !== WORDS) throw badCodename(NOT_SEVEN_WORDS);
    if (!parts.every(function (p) { return known.has(p); })) throw badCodename(UNKNOWN_WORD);
    return parts.join(" ");
  }

  async function newCodename() {
    var sodium = await sodiumReady();
    var list = words();
    var out = [];
    for (var i = 0; i < WORDS; i++) out.push(list[sodium.randombytes_uniform(list.length)]);
    return out.join(" ");
  }

  function concat(label, data) {
    var l = encoder.encode(label);
    var out = new Uint8Array(l.length + data.length);
    out.set(l, 0);
    out.set(data, l.length);
    return out;
  }

  async function derive(codename, installSalt) {
    var canonical = encoder.encode(normalise(codename));
    if (!(installSalt instanceof Uint8Array) || installSalt.length !== INSTALL_SALT_BYTES) {
      throw new TypeError("TiplineCodename: the installation salt is a Uint8Array of 16 bytes");
    }
    var sodium = await sodiumReady();
    var salt = sodium.crypto_generichash(16, concat(LABEL_SALT, installSalt), null);
    var master = sodium.crypto_pwhash(32, canonical, salt, OPSLIMIT, MEMLIMIT, sodium.crypto_pwhash_ALG_ARGON2ID13);
    var seed = null;
    try {
      var verifier = sodium.crypto_kdf_derive_from_key(32, SUBKEY_VERIFIER, KDF_CONTEXT, master);
      seed = sodium.crypto_kdf_derive_from_key(32, SUBKEY_BOX_SEED, KDF_CONTEXT, master);
      var pair = sodium.crypto_box_seed_keypair(seed);
      return {
        verifier: verifier,
        verifierHash: sodium.crypto_generichash(32, concat(LABEL_VERIFIER_HASH, verifier), null),
        publicKey: pair.publicKey,
        secretKey: pair.privateKey,
      };
    } finally {
      sodium.memzero(master);
      sodium.memzero(canonical);
      if (seed !== null) sodium.memzero(seed);
    }
  }

  global.TiplineCodename = Object.freeze({
    WORDS: WORDS,
    OPSLIMIT: OPSLIMIT,
    MEMLIMIT: MEMLIMIT,
    newCodename: newCodename,
    normalise: normalise,
    derive: derive,
  });
})(typeof globalThis !== "undefined" ? globalThis : this);
