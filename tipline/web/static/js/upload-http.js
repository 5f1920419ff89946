/*
 * The uploads' requests (docs/uploads.md): one tus request, and the waits and tries again
 * after a lost connection, with the page's countdown. One place says what counts as lost and
 * how long the page waits. A plain script, loaded before upload-parts.js and upload.js; it
 * defines one global, TiplineUploadHttp (http, tus, offsetOf, pause, retryable, persist,
 * UploadError, Lost, DELAYS).
 */
(function (global) {
  "use strict";

  var DELAYS = [1, 2, 5, 10, 20, 30]; // seconds between tries; the last one repeats, forever
  var STALL_MS = 60000; // a request that moves no byte for this long is taken as lost

  function UploadError(reason, status, name) {
    var e = new Error("upload: " + reason + (status ? " " + status : ""));
    e.reason = reason; // "too_big", "refused", "expired", "unreadable", "cancelled"
    e.status = status || 0;
    e.name = "UploadError";
    e.item = name || "";
    return e;
  }

  function Lost() {} // a network error, or a stalled or aborted request

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

  global.TiplineUploadHttp = Object.freeze({
    http: http,
    tus: tus,
    offsetOf: offsetOf,
    pause: pause,
    retryable: retryable,
    persist: persist,
    UploadError: UploadError,
    Lost: Lost,
    DELAYS: DELAYS,
  });
})(window);
