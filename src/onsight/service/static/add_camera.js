// "Add a camera": the Test connection button posts the form to /cameras/new/test and shows
// the redacted picture it answers with, or the reason there is none. Ticking "Snapshot URL"
// shows a snapshot URL as the example.
"use strict";
(function () {
  const form = document.getElementById("camera-form");
  if (!form) return;
  const button = document.getElementById("test-connection");
  const result = document.getElementById("test-result");
  const image = document.getElementById("test-image");
  const url = document.getElementById("camera-url");
  const snapshot = document.getElementById("camera-snapshot");
  const streamExample = url.placeholder;
  const showExample = () => {
    url.placeholder = snapshot.checked
      ? "http://user:password@192.168.1.20/cgi-bin/snapshot.cgi" : streamExample;
  };
  snapshot.addEventListener("change", showExample);
  showExample();

  button.addEventListener("click", async () => {
    if (!form.reportValidity()) return;
    button.disabled = true;
    image.hidden = true;
    result.className = "muted";
    result.textContent = "Connecting…";
    try {
      const response = await fetch("/cameras/new/test", {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const answer = await response.json();
      if (response.ok && answer.ok) {
        image.src = answer.image;
        image.hidden = false;
        result.className = "message ok";
        const blurred = { people: "people blurred", faces: "faces blurred",
                          none: "nothing blurred (inspection camera)" }[answer.redaction];
        result.textContent = `Connected: ${answer.size} pixels, ${blurred || "redacted"}.`;
      } else {
        const detail = typeof answer.detail === "string" ? answer.detail : "invalid form values";
        result.className = "message error";
        result.textContent = `Not connected: ${answer.reason || detail}`;
      }
    } catch (error) {
      result.className = "message error";
      result.textContent = "Not connected: the service did not answer.";
    } finally {
      button.disabled = false;
    }
  });
})();
