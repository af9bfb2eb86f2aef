// Passkey ceremonies (WebAuthn): ask the server for options, let the browser's
// authenticator create or sign, post the result back. A file, so the CSP can forbid inline
// scripts. Forms marked data-passkey stay hidden where the browser has no WebAuthn.
"use strict";
(function () {
  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIds(list) {
    (list || []).forEach(function (c) { c.id = toBuffer(c.id); });
  }

  // The JSON py_webauthn parses: WebAuthn Level 3's RegistrationResponseJSON and
  // AuthenticationResponseJSON.
  function encode(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) { out.response.userHandle = toText(r.userHandle); }
    }
    return out;
  }

  function post(url, form, fields) {
    var body = new URLSearchParams();
    body.set("csrf_token", form.elements.csrf_token.value);
    Object.keys(fields).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { accept: "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "The passkey could not be used."); }
        return data;
      });
    });
  }

  function ceremony(form) {
    var registering = form.dataset.passkey === "register";
    return post(form.dataset.options, form, {}).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      if (registering) {
        options.user.id = toBuffer(options.user.id);
        decodeIds(options.excludeCredentials);
        return navigator.credentials.create({ publicKey: options });
      }
      decodeIds(options.allowCredentials);
      return navigator.credentials.get({ publicKey: options });
    }).then(function (credential) {
      if (!credential) { throw new Error("No passkey was chosen."); }
      var fields = { credential: JSON.stringify(encode(credential)) };
      ["name", "next"].forEach(function (k) {
        if (form.elements[k]) { fields[k] = form.elements[k].value; }
      });
      return post(form.dataset.verify, form, fields);
    });
  }

  var supported = window.PublicKeyCredential && navigator.credentials && window.isSecureContext;
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    if (!supported) { return; }
    var status = form.querySelector("[data-passkey-status]");
    var button = form.querySelector("button");
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      status.hidden = true;
      ceremony(form).then(function (done) {
        window.location.assign(done.redirect);
      }, function (error) {
        button.disabled = false;
        status.hidden = false;
        status.textContent = error.name === "NotAllowedError"
          ? "The passkey was not used (cancelled or timed out). Try again."
          : error.message;
      });
    });
  });
}());
