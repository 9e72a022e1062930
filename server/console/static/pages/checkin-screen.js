/* The door screen (screen.html): the live code, the count, the state; moved from its inline script (CSP). */
(function () {
  "use strict";
  var root = document.getElementById("screen");
  var img = document.getElementById("code");
  var count = document.getElementById("count");
  var state = document.getElementById("state");
  var connection = document.getElementById("connection");
  var MAX_WAIT_MS = 4000;
  // Times come from the server as "seconds from now", so the screen follows the server's clock, not its own.
  var expiresAt = Date.now() + Number(root.dataset.expiresIn) * 1000;

  function show(data) {
    if (img.dataset.scene !== data.scene) {
      img.src = data.image;
      img.dataset.scene = data.scene;
      img.dataset.window = data.window;
    }
    img.classList.remove("stale");
    count.textContent = data.count;
    var shortCode = document.getElementById("short-code");
    if (shortCode && data.short_code) { shortCode.textContent = data.short_code; }
    state.textContent = data.state_text;
    state.dataset.state = data.state;
    expiresAt = Date.now() + data.expires_in * 1000;
    connection.textContent = "";
  }

  function refresh() {
    var wait = 2000;
    fetch(root.dataset.codeUrl, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("application/json") !== 0) {
          throw new Error(response.redirected ? "请重新登录工作台" : "HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        show(data);
        // Ask again just after the window turns (a fresher code exists then), and at least every few seconds.
        wait = Math.min(MAX_WAIT_MS, Math.max(500, data.refresh_in * 1000 + 250));
      })
      .catch(function (error) {
        connection.textContent = "网络中断，正在重试…（" + error.message + "）";
      })
      .then(function () { setTimeout(refresh, wait); });
  }

  // A code past its acceptance is never left looking valid.
  setInterval(function () {
    if (Date.now() > expiresAt) {
      img.classList.add("stale");
      connection.textContent = "二维码已过期，正在获取新的二维码…";
    }
  }, 1000);

  document.getElementById("fullscreen").addEventListener("click", function () {
    if (document.documentElement.requestFullscreen) { document.documentElement.requestFullscreen(); }
  });
  // Keep a projector's screen awake where the browser allows it.
  if (navigator.wakeLock) { navigator.wakeLock.request("screen").catch(function () {}); }

  setTimeout(refresh, Math.min(MAX_WAIT_MS, Math.max(500, Number(root.dataset.refreshIn) * 1000 + 250)));
})();
