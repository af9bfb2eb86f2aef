// Implicit-flow landing: the identity provider's answer is in the URL fragment, which
// never reaches the server. Move it into a same-origin POST, and drop it from the address
// bar and history first. Kept in a file so the CSP can forbid inline scripts.
(function () {
  "use strict";
  var form = document.getElementById("oauth-relay");
  if (!form) { return; }
  if (form.dataset.autosubmit === "1") { form.submit(); return; }
  var fragment = window.location.hash.replace(/^#/, "");
  var status = document.getElementById("oauth-status");
  if (!fragment) {
    if (status) { status.textContent = "No answer from an identity provider arrived here. Start again from the sign-in page."; }
    return;
  }
  new URLSearchParams(fragment).forEach(function (value, name) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  });
  window.history.replaceState(null, "", window.location.pathname);
  form.submit();
})();
